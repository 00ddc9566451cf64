"""Wall time of the tiny graph (the default target `all`: arbitrage and training, cold, in a fresh
copy of the repo), per rule and per training job, of planning the 32b graph with `snakemake -n`,
and of the rebuild after one language's prompt file is edited (one prompt of it made longer).
Prints figures; asserts nothing. Jobs run in the warm worker unless EXPANSE_WARM=0 is set.

    .venv/bin/python benchmarks/tiny_graph.py                  # all 23 languages, 5 families
    .venv/bin/python benchmarks/tiny_graph.py --shrink         # the test suite's shrunken config
    .venv/bin/python benchmarks/tiny_graph.py --keep /tmp/tiny # keep the built copy
"""

from __future__ import annotations

import argparse
import csv
import json
import re
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


def edit_prompts(path: Path) -> None:
    """Make the first prompt of a prompt file longer by the second one's text (still in its
    language, still unique): a real edit of one language's data."""
    lines = path.read_text(encoding="utf-8").splitlines()
    first, second = json.loads(lines[0]), json.loads(lines[1])
    first["prompt"] = f"{first['prompt']} {second['prompt']}"
    lines[0] = json.dumps(first, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shrink", action="store_true")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="build in this (new) directory and keep it")
    ap.add_argument("--edit", metavar="LANG", help="the language whose prompts are edited (default: the first)")
    args = ap.parse_args()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    if args.shrink:
        params = shrink_params(params)
    smk = [sys.executable, "-m", "snakemake"]
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_repo((args.keep or Path(tmp) / "repo"), params)
        cold = timed([*smk, f"-c{args.cores}", "all"], root)
        noop = timed([*smk, "-n", "all"], root)
        per_rule: dict[str, list[float]] = defaultdict(list)
        training: dict[str, float] = {}
        for tsv in sorted((root / "benchmarks/tiny").rglob("*.tsv")):
            parts = tsv.relative_to(root / "benchmarks/tiny").with_suffix("").parts
            seconds = float(next(csv.DictReader(tsv.open(), delimiter="\t"))["s"])
            per_rule[parts[0]].append(seconds)
            if parts[0].startswith("train_"):
                training["/".join(parts)] = seconds
        plan32 = timed(
            [*smk, "-n", "merged_32b" if "rule merged_32b:" in (root / "Snakefile").read_text() else "train_32b"], root
        )
        lang = args.edit or next(iter(params["languages"]))
        edit_prompts(root / params["languages"][lang]["prompts"])
        plan = subprocess.run(
            [*smk, "-n", "--quiet", "rules", "all"], cwd=root, check=True, capture_output=True, text=True
        ).stdout
        rebuild_jobs = int(re.search(r"^total\s+(\d+)", plan, re.M).group(1)) - 1  # `all` itself
        rebuild = timed([*smk, f"-c{args.cores}", "all"], root)
    print(
        f"languages: {len(params['languages'])}, families: {len(params['families'])}, "
        f"teachers: {len(params['scales']['tiny']['teachers'])}, cores: {args.cores}"
    )
    print(f"tiny graph (all), cold:          {cold:8.1f} s")
    print(f"tiny graph, no-op dry run:       {noop:8.1f} s")
    print(f"32b graph, snakemake -n:         {plan32:8.1f} s")
    print(f"after editing {lang}'s prompts:    {rebuild:8.1f} s  ({rebuild_jobs} jobs rebuilt)")
    for rule, times in sorted(per_rule.items()):
        print(f"  {rule:22s} jobs {len(times):3d}  sum {sum(times):7.1f} s  max {max(times):6.1f} s")
    print("training jobs (wall s, including the process start-up):")
    for job, seconds in training.items():
        print(f"  {job:40s} {seconds:7.1f}")


if __name__ == "__main__":
    main()
