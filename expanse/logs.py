"""Run a rule's script with its output in the job's log, and bad input reported in one line."""

from __future__ import annotations

import os
import sys
import traceback

from expanse.errors import ExpanseError


def run_script(main, smk) -> None:
    """Call main(smk) with stdout/stderr (including C-level output) sent to smk.log[0]. An
    ExpanseError becomes one line in the log and on the terminal, and exit status 1."""
    terminal = os.fdopen(os.dup(2), "w")
    if smk.log:
        os.makedirs(os.path.dirname(os.path.abspath(smk.log[0])), exist_ok=True)
        log = open(smk.log[0], "w", buffering=1)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
    try:
        main(smk)
    except ExpanseError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        print(f"error: {e}", file=terminal, flush=True)
        sys.exit(1)
    except BaseException:
        traceback.print_exc()
        raise
