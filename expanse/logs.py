"""Run a rule's script with its output in the job's log, and bad input reported in one line."""

from __future__ import annotations

import os
import sys
import traceback

from expanse.errors import ExpanseError, StateError


def run_script(main, smk) -> None:
    """Call main(smk) with stdout/stderr (including C-level output) sent to smk.log[0]. An
    ExpanseError becomes one line in the log and on the terminal, and exit status 1.

    Local CPU jobs run in the warm worker (expanse.worker): a child forked from a process that has
    torch, transformers and trl imported runs this same script, and this process exits with its
    status. When the worker cannot be used the job runs here, as with EXPANSE_WARM=0.

    Scripts import the library inside main: the process Snakemake starts for the job then imports
    only this module before it hands the job over (polars alone would add ~0.1 CPU-s per job)."""
    from expanse import worker

    if worker.wanted(smk):
        try:
            status = worker.forward()
        except (OSError, ConnectionError, StateError) as e:
            print(f"note: warm worker unavailable ({e}); running in this process", file=sys.stderr, flush=True)
        else:
            _note_usage(smk, worker.FORWARDED)
            sys.exit(status)
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


def _note_usage(smk, usage: dict) -> None:
    """Append the warm child's CPU time and peak memory to the job's log (Snakemake's benchmark
    file measures this process, which only waited)."""
    if not smk.log or "user_s" not in usage:
        return
    try:
        from expanse.worker import usage_line

        with open(smk.log[0], "a") as log:
            print(usage_line(usage), file=log)
    except OSError:
        pass
