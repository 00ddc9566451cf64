"""Budgeted arbitrage at tiny scale: learned routing against asking every teacher, on the same
prompts and models, in one run. Prints, per language, the teachers routing chose, the generations it
saved and the mean arbiter score of the selected SFT set under both. Asserts nothing.

    .venv/bin/python benchmarks/routing.py --built DIR   # DIR: a repo with the tiny models and prompts built
    .venv/bin/python benchmarks/routing.py --built DIR --fraction 0.5 --top-k 2 --keep /tmp/routed

Both settings run in fresh copies of the repo (this checkout's code, DIR's params) that share DIR's
prompts and tiny models (copied, mtimes kept): `all` runs generate_teacher, score_arbiter and
select_arbitrage; `learned` the probe, routing, routed-generation, scoring and selection jobs (and
both prepare_prompts for languages whose prompts DIR has not built).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from shrink import copy_repo  # noqa: E402

SHARED = ("results/tiny/prompts", "results/tiny/models", "results/tiny/corpus.parquet")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--built", type=Path, required=True, help="a repo with the tiny models and prompts built")
    ap.add_argument("--fraction", type=float, default=None, help="probe_fraction (default: params.yaml's)")
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="run in this (new) directory and keep it")
    args = ap.parse_args()
    params = yaml.safe_load((args.built / "params.yaml").read_text())
    base = {**params["scales"]["tiny"].get("arbitrage", {}), "routing": "all"}
    routing = {**base, "routing": "learned"}
    if args.fraction is not None:
        routing["probe_fraction"] = args.fraction
    if args.top_k is not None:
        routing["top_k"] = args.top_k
    langs = list(params["languages"])
    targets = [f"results/tiny/arbitrage/{lang}.parquet" for lang in langs]
    runs = {
        "all": (base, ["prepare_prompts", "generate_teacher", "score_arbiter", "select_arbitrage"]),
        "learned": (
            routing,
            [
                "prepare_prompts",
                "generate_probe",
                "score_probe",
                "route_teachers",
                "generate_routed",
                "score_routed",
                "select_arbitrage",
            ],
        ),
    }
    seconds, roots = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (arbitrage, rules) in runs.items():
            params["scales"]["tiny"]["arbitrage"] = arbitrage
            root = roots[name] = copy_repo((args.keep or Path(tmp)) / name, params)
            for rel in SHARED:
                src, dst = args.built / rel, root / rel
                if src.is_dir():
                    shutil.copytree(src, dst)
                else:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "snakemake", f"-c{args.cores}", "--allowed-rules", *rules, "--", *targets],
                cwd=root,
                check=True,
                capture_output=True,
                text=True,
            )
            seconds[name] = time.perf_counter() - start
        # the generation jobs' own wall time (their benchmark files): what the GPUs would spend
        gen_seconds = {
            name: sum(
                _seconds(t)
                for rule in ("generate_teacher", "generate_probe", "generate_routed")
                for t in (root / "benchmarks/tiny" / rule).rglob("*.tsv")
            )
            for name, root in roots.items()
        }
        rows, made, every, base_sum, routed_sum, n = [], 0, 0, 0.0, 0.0, 0
        for lang in langs:
            decision = json.loads((roots["learned"] / f"results/tiny/routing/{lang}.json").read_text())
            learned = json.loads((roots["learned"] / f"results/tiny/arbitrage/{lang}.wins.json").read_text())
            baseline = json.loads((roots["all"] / f"results/tiny/arbitrage/{lang}.wins.json").read_text())
            made, every = made + decision["generations"], every + decision["generations_all"]
            a, b = baseline["selected_mean_score"], learned["selected_mean_score"]
            if a is not None and b is not None:
                base_sum, routed_sum, n = base_sum + a, routed_sum + b, n + 1
            rows.append(
                (
                    lang,
                    ",".join(decision["selected"]),
                    decision["n_probe"],
                    decision["n_prompts"],
                    100 * decision["saved_fraction"],
                    baseline["n_selected"],
                    a,
                    learned["n_selected"],
                    b,
                )
            )
    print(
        f"learned routing: probe_fraction {routing.get('probe_fraction', 0.25)}, top_k {routing.get('top_k', 1)}; "
        f"{len(langs)} languages, {len(params['scales']['tiny']['teachers'])} teachers; on {args.cores} cores: "
        f"all {seconds['all']:.0f} s, learned {seconds['learned']:.0f} s"
    )
    print(
        f"{'lang':5s} {'selected':10s} {'probe':>9s} {'saved':>7s} {'all: n':>7s} {'score':>8s} "
        f"{'learned: n':>11s} {'score':>8s} {'delta':>8s}"
    )
    for lang, sel, n_probe, n_prompts, saved, na, a, nb, b in rows:
        delta = f"{b - a:+8.3f}" if a is not None and b is not None else "       –"
        print(
            f"{lang:5s} {sel:10s} {n_probe:4d}/{n_prompts:<4d} {saved:6.1f}% {na:7d} "
            f"{a if a is not None else float('nan'):8.3f} "
            f"{nb:11d} {b if b is not None else float('nan'):8.3f} {delta}"
        )
    print(
        f"all   generations {made} of {every}: {100 * (1 - made / every):.1f}% saved; mean SFT-set score over "
        f"{n} languages: all {base_sum / n:.4f}, learned {routed_sum / n:.4f} ({(routed_sum - base_sum) / n:+.4f})"
    )
    change = 100 * (gen_seconds["learned"] / gen_seconds["all"] - 1)
    print(
        f"generation jobs' wall time (benchmark files): all {gen_seconds['all']:.0f} s, learned "
        f"{gen_seconds['learned']:.0f} s ({change:+.1f}%; each job also pays its start-up and model load)"
    )


def _seconds(tsv: Path) -> float:
    import csv

    with tsv.open(newline="") as f:
        return float(next(csv.DictReader(f, delimiter="\t"))["s"])


if __name__ == "__main__":
    main()
