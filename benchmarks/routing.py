"""Budgeted arbitrage at tiny scale: learned routing against asking every teacher, on the same
prompts and models. Prints, per language, the teachers routing chose, the generations it saved and
the mean arbiter score of the selected SFT set under both. Asserts nothing.

    .venv/bin/python benchmarks/routing.py --built DIR   # DIR: a repo whose tiny arbitrage is built (routing: all)
    .venv/bin/python benchmarks/routing.py --built DIR --fraction 0.5 --top-k 2 --keep /tmp/routed

The learned run happens in a fresh copy of the repo that shares DIR's prompts and tiny models
(copied, mtimes kept); only the probe, routing, routed-generation, scoring and selection jobs run.
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
    ap.add_argument("--built", type=Path, required=True, help="a repo with the tiny arbitrage built (routing: all)")
    ap.add_argument("--fraction", type=float, default=None, help="probe_fraction (default: params.yaml's)")
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="run in this (new) directory and keep it")
    args = ap.parse_args()
    params = yaml.safe_load((args.built / "params.yaml").read_text())
    routing = params["scales"]["tiny"].setdefault("arbitrage", {})
    if routing.get("routing", "all") != "all":
        raise SystemExit(f"{args.built}/params.yaml: scales.tiny.arbitrage.routing must be all (the baseline)")
    routing["routing"] = "learned"
    if args.fraction is not None:
        routing["probe_fraction"] = args.fraction
    if args.top_k is not None:
        routing["top_k"] = args.top_k
    langs = list(params["languages"])
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_repo(args.keep or Path(tmp) / "repo", params)
        for rel in SHARED:
            src, dst = args.built / rel, root / rel
            if src.is_dir():
                shutil.copytree(src, dst)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        targets = [f"results/tiny/arbitrage/{lang}.parquet" for lang in langs]
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "snakemake", f"-c{args.cores}", "--allowed-rules", "generate_probe",
                        "score_probe", "route_teachers", "generate_routed", "score_routed", "select_arbitrage", "--",
                        *targets], cwd=root, check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        rows, made, every, base_sum, routed_sum, n = [], 0, 0, 0.0, 0.0, 0
        for lang in langs:
            decision = json.loads((root / f"results/tiny/routing/{lang}.json").read_text())
            learned = json.loads((root / f"results/tiny/arbitrage/{lang}.wins.json").read_text())
            baseline = json.loads((args.built / f"results/tiny/arbitrage/{lang}.wins.json").read_text())
            made, every = made + decision["generations"], every + decision["generations_all"]
            a, b = baseline["selected_mean_score"], learned["selected_mean_score"]
            if a is not None and b is not None:
                base_sum, routed_sum, n = base_sum + a, routed_sum + b, n + 1
            rows.append((lang, ",".join(decision["selected"]), decision["n_probe"], decision["n_prompts"],
                         100 * decision["saved_fraction"], baseline["n_selected"], a, learned["n_selected"], b))
    print(f"learned routing: probe_fraction {routing.get('probe_fraction', 0.25)}, top_k {routing.get('top_k', 1)}; "
          f"{len(langs)} languages, {len(params['scales']['tiny']['teachers'])} teachers; {seconds:.0f} s on "
          f"{args.cores} cores")
    print(f"{'lang':5s} {'selected':10s} {'probe':>9s} {'saved':>7s} {'all: n':>7s} {'score':>8s} "
          f"{'learned: n':>11s} {'score':>8s} {'delta':>8s}")
    for lang, sel, n_probe, n_prompts, saved, na, a, nb, b in rows:
        delta = f"{b - a:+8.3f}" if a is not None and b is not None else "       –"
        print(f"{lang:5s} {sel:10s} {n_probe:4d}/{n_prompts:<4d} {saved:6.1f}% {na:7d} {a if a is not None else float('nan'):8.3f} "
              f"{nb:11d} {b if b is not None else float('nan'):8.3f} {delta}")
    print(f"all   generations {made} of {every}: {100 * (1 - made / every):.1f}% saved; mean SFT-set score over "
          f"{n} languages: all {base_sum / n:.4f}, learned {routed_sum / n:.4f} ({(routed_sum - base_sum) / n:+.4f})")


if __name__ == "__main__":
    main()
