"""The SLURM tests need a running cluster (slurm/cluster/up.sh). Outside CI they skip with one line
when none answers; under CI (CI=true) a missing cluster is a failure, never a skip. Also: reading
SLURM's own records of the jobs a test ran."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

ACCOUNT = os.environ.get("EXPANSE_SLURM_ACCOUNT", "expanse")


def _cluster_state() -> str | None:
    """None when a cluster answers with an idle or mixed node; else why not."""
    if not shutil.which("sinfo"):
        return "no SLURM client (sinfo) installed"
    try:
        out = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "sinfo timed out"
    if out.returncode != 0:
        return f"sinfo failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}"
    states = out.stdout.split()
    if not any(s.rstrip("*") in {"idle", "mix", "alloc"} for s in states):
        return f"no usable node (states: {', '.join(states) or 'none'})"
    if subprocess.run(["sacct", "--noheader", "-X", "-n", "--starttime=now-1minutes"], capture_output=True).returncode:
        return "sacct fails (no slurmdbd accounting)"
    return None


@pytest.fixture(scope="session")
def slurm_cluster():
    why = _cluster_state()
    if why is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but no SLURM cluster is usable: {why} (start it with slurm/cluster/up.sh)")
        pytest.skip(f"no SLURM cluster: {why}; start one with slurm/cluster/up.sh")
    return {"account": ACCOUNT, "since": time.strftime("%Y-%m-%dT%H:%M:%S")}


def sacct(*fields: str, since: str, workdir: str | None = None) -> list[dict]:
    """Jobs (allocations, -X) since `since`, optionally only those run in `workdir`."""
    out = subprocess.run(
        [
            "sacct",
            "-X",
            "--parsable2",
            "--noheader",
            f"--starttime={since}",
            f"--format={','.join(('WorkDir',) + fields)}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    rows = [dict(zip(("WorkDir",) + fields, line.split("|"))) for line in out.stdout.splitlines() if line]
    return [r for r in rows if workdir is None or os.path.realpath(r["WorkDir"]) == os.path.realpath(workdir)]
