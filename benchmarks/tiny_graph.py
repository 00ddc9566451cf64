"""Wall time of the tiny graph (the default target `all`: arbitrage and training, cold, in a fresh
copy of the repo), per rule and per training job, and of planning the 32b graph with
`snakemake -n`. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/tiny_graph.py                  # all 23 languages, 5 families
    .venv/bin/python benchmarks/tiny_graph.py --shrink         # the test suite's shrunken config
    .venv/bin/python benchmarks/tiny_graph.py --keep /tmp/tiny # keep the built copy
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from shrink import REPO, copy_repo, shrink_params  # noqa: E402


def timed(cmd, cwd) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shrink", action="store_true")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="build in this (new) directory and keep it")
    args = ap.parse_args()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    if args.shrink:
        params = shrink_params(params)
    smk = [sys.executable, "-m", "snakemake"]
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_repo((args.keep or Path(tmp) / "repo"), params)
        cold = timed([*smk, f"-c{args.cores}", "all"], root)
        noop = timed([*smk, "-n", "all"], root)
        plan32 = timed([*smk, "-n", "merged_32b" if "rule merged_32b:" in (root / "Snakefile").read_text() else "train_32b"], root)
        per_rule: dict[str, list[float]] = defaultdict(list)
        training: dict[str, float] = {}
        for tsv in sorted((root / "benchmarks/tiny").rglob("*.tsv")):
            parts = tsv.relative_to(root / "benchmarks/tiny").with_suffix("").parts
            seconds = float(next(csv.DictReader(tsv.open(), delimiter="\t"))["s"])
            per_rule[parts[0]].append(seconds)
            if parts[0].startswith("train_"):
                training["/".join(parts)] = seconds
    print(f"languages: {len(params['languages'])}, families: {len(params['families'])}, "
          f"teachers: {len(params['scales']['tiny']['teachers'])}, cores: {args.cores}")
    print(f"tiny graph (all), cold:          {cold:8.1f} s")
    print(f"tiny graph, no-op dry run:       {noop:8.1f} s")
    print(f"32b graph, snakemake -n:         {plan32:8.1f} s")
    for rule, times in sorted(per_rule.items()):
        print(f"  {rule:22s} jobs {len(times):3d}  sum {sum(times):7.1f} s  max {max(times):6.1f} s")
    print("training jobs (wall s, including the process start-up):")
    for job, seconds in training.items():
        print(f"  {job:40s} {seconds:7.1f}")


if __name__ == "__main__":
    main()
