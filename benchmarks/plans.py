"""Planning time: how long `snakemake -n` takes to plan the graph, median of N runs after one
untimed warm-up, as wall and CPU (user, sys) seconds of the snakemake process. Prints figures;
asserts nothing.

    .venv/bin/python benchmarks/plans.py                       # -n merged_32b, merged_8b, all (unbuilt)
    .venv/bin/python benchmarks/plans.py --built /tmp/built    # and the no-op -n all of a built graph
    .venv/bin/python benchmarks/plans.py --built /tmp/built --sync   # after copying this tree's code there
    .venv/bin/python benchmarks/plans.py --repeats 9 --only merged_32b

The unbuilt plans run in a fresh copy of the working tree (tracked and untracked files, the real
params.yaml, no results/ and no .snakemake/). --built DIR plans in DIR as it is: a copy of the repo
that has been built (results/ and .snakemake/ metadata). --sync first copies this tree's code into
DIR (every tracked and untracked file but params.yaml, which in a built copy is usually the shrunk
one it was built with); jobs whose code changed since the build then show in the plan, and the
printed job count says how many.

SLURM: the slurm executor plugin runs `scontrol show config` (10 s timeout) when Snakemake loads it
at startup, on every call. On a machine where scontrol is installed but no controller answers, each
call then waits up to 10 s of wall time that is not planning; users either have no scontrol or a
controller that answers at once. When `scontrol ping` fails, this benchmark says so and measures with
a scontrol that fails at once placed first on PATH (the time a machine without SLURM pays).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from shrink import REPO, copy_repo  # noqa: E402

PLANS = ("merged_32b", "merged_8b", "all")


def slurm_env(tmp: Path) -> tuple[dict, str | None]:
    """The environment to run Snakemake in and, when it had to be changed, the one line saying why."""
    env = dict(os.environ)
    scontrol = shutil.which("scontrol")
    if scontrol is None:
        return env, None
    try:
        ok = subprocess.run([scontrol, "ping"], capture_output=True, timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    if ok:
        return env, None
    shim = tmp / "fastslurm"
    shim.mkdir()
    (shim / "scontrol").write_text("#!/bin/sh\nexit 1\n")
    (shim / "scontrol").chmod(0o755)
    env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '')}"
    return env, (
        f"note: {scontrol} is on PATH but `scontrol ping` fails (no SLURM controller answers): the slurm "
        "executor plugin's `scontrol show config` would add up to 10 s of waiting to every call; "
        "measuring with a scontrol that fails at once first on PATH, as on a machine without SLURM"
    )


def run_once(cmd: list[str], cwd: Path, env: dict) -> tuple[float, float, float, str]:
    """wall, user, sys seconds of one run of cmd (its process tree), and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise SystemExit(f"error: {' '.join(cmd[2:])} in {cwd} exited {proc.returncode}: {' | '.join(tail)}")
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime, proc.stdout + proc.stderr


def job_count(output: str) -> int:
    if "Nothing to be done" in output:
        return 0
    totals = re.findall(r"^total\s+(\d+)\s*$", output, flags=re.M)
    return int(totals[-1]) if totals else -1


def measure(label: str, target: str, cwd: Path, env: dict, repeats: int) -> None:
    cmd = [sys.executable, "-m", "snakemake", "-n", target]
    *_, output = run_once(cmd, cwd, env)  # warm-up: .pyc files, the page cache, .snakemake/
    runs = [run_once(cmd, cwd, env)[:3] for _ in range(repeats)]
    wall, user, sys_ = (statistics.median(r[i] for r in runs) for i in range(3))
    print(
        f"{label:<34} {job_count(output):>5} {wall:8.2f} {user:8.2f} {sys_:7.2f}   "
        f"(wall min {min(r[0] for r in runs):.2f}, max {max(r[0] for r in runs):.2f})",
        flush=True,
    )


def sync_code(built: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    for f in files:
        if f == "params.yaml" or not (REPO / f).is_file():
            continue
        target = built / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, target)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--built", type=Path, help="a built copy of the repo (results/ and .snakemake/) to plan a no-op in")
    ap.add_argument(
        "--sync", action="store_true", help="copy this tree's code (all but params.yaml) into --built first"
    )
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per plan (default 5); the median is printed")
    ap.add_argument("--only", choices=(*PLANS, "built"), action="append", help="measure only these plans")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    if args.sync and args.built is None:
        ap.error("--sync needs --built")
    if args.built is not None and not (args.built / "Snakefile").is_file():
        ap.error(f"--built {args.built}: no Snakefile there")
    only = set(args.only or (*PLANS, "built"))
    with tempfile.TemporaryDirectory() as tmp:
        env, note = slurm_env(Path(tmp))
        if note:
            print(note)
        print(
            f"snakemake -n, median of {args.repeats} runs after one warm-up; {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        print(f"{'plan':<34} {'jobs':>5} {'wall s':>8} {'user s':>8} {'sys s':>7}")
        if args.built is not None and "built" in only:
            if args.sync:
                sync_code(args.built)
            measure(f"-n all, built ({args.built.name})", "all", args.built.resolve(), env, args.repeats)
        if only & set(PLANS):
            fresh = copy_repo(Path(tmp) / "repo")
            for target in PLANS:
                if target in only:
                    measure(f"-n {target}" + (", unbuilt" if target == "all" else ""), target, fresh, env, args.repeats)


if __name__ == "__main__":
    main()
