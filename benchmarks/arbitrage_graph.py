"""Wall time of the tiny arbitrage graph (cold, in a fresh copy of the repo) and of planning the
32b graph with `snakemake -n`. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/arbitrage_graph.py             # all 23 languages (the default target)
    .venv/bin/python benchmarks/arbitrage_graph.py --shrink    # the test suite's shrunken config
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
    args = ap.parse_args()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    if args.shrink:
        params = shrink_params(params)
    smk = [sys.executable, "-m", "snakemake"]
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_repo(Path(tmp) / "repo", params)
        cold = timed([*smk, f"-c{args.cores}", "all"], root)
        noop = timed([*smk, "-n", "all"], root)
        plan32 = timed([*smk, "-n", "arbitrage_32b"], root)
        per_rule: dict[str, list[float]] = defaultdict(list)
        for tsv in (root / "benchmarks/tiny").rglob("*.tsv"):
            rule = tsv.relative_to(root / "benchmarks/tiny").parts[0].removesuffix(".tsv")
            row = next(csv.DictReader(tsv.open(), delimiter="\t"))
            per_rule[rule].append(float(row["s"]))
    print(f"languages: {len(params['languages'])}, teachers: {len(params['scales']['tiny']['teachers'])}, cores: {args.cores}")
    print(f"tiny arbitrage graph, cold:      {cold:8.1f} s")
    print(f"tiny graph, no-op dry run:       {noop:8.1f} s")
    print(f"32b arbitrage graph, snakemake -n: {plan32:6.1f} s")
    for rule, times in sorted(per_rule.items()):
        print(f"  {rule:22s} jobs {len(times):3d}  sum {sum(times):7.1f} s  max {max(times):6.1f} s")


if __name__ == "__main__":
    main()
