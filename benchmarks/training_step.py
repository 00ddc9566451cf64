"""Where a tiny training job's time goes: one SFT, DPO or online DPO job of a built tree, run in this
process with its training rows repeated to a chosen count (the full default has about 110-250 rows
per family; the test graph 10-16), timed by phase. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/tiny_graph.py --shrink --keep /tmp/tiny      # a built tree
    .venv/bin/python benchmarks/training_step.py /tmp/tiny --family romance --stage dpo --rows 185
    .venv/bin/python benchmarks/training_step.py /tmp/tiny --stage sft --rows 185 --set epochs=2
    .venv/bin/python benchmarks/training_step.py /tmp/tiny --stage dpo --profile /tmp/dpo.prof

The job runs with the tree's params.yaml section for the stage (--set overrides a key), in a
scratch directory: the tree's own checkpoints are read, never written. CPU seconds are the figure to
compare on a shared machine; wall seconds grow with the other load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def job_spec(root: Path, family: str, stage: str, work: Path) -> dict:
    """The spec scripts/train_*.py would write, from the tree's params.yaml (tiny scale)."""
    from expanse.config import load_yaml, validate

    params = validate(load_yaml(str(root / "params.yaml")))
    scale = params.scales["tiny"]
    langs = [c for c, v in params.languages.items() if v.family == family]
    if not langs:
        raise SystemExit(f"no language of family {family!r} in {root / 'params.yaml'}")
    r = root / "results/tiny"
    load = {"use_safetensors": True, "trust_remote_code": False}
    if stage == "sft":
        config, model, ref = scale.sft, r / "models/base", None
        data = [r / f"arbitrage/{c}.parquet" for c in langs]
    elif stage == "dpo":
        config, model, ref = scale.dpo, r / f"checkpoints/{family}/sft", r / f"checkpoints/{family}/sft"
        data = [r / f"pairs/offline/{c}.parquet" for c in langs]
    else:  # online iteration 1: the family's DPO model is policy and reference
        config, model, ref = scale.online.dpo, r / f"checkpoints/{family}/dpo", r / f"checkpoints/{family}/dpo"
        data = [r / f"online/{family}/it1/pairs/{c}.parquet" for c in langs]
    return {
        "stage": "sft" if stage == "sft" else "dpo",
        "name": f"{family}/{stage}",
        "model": {"location": str(model), "load": load},
        "ref_model": ref and {"location": str(ref), "load": load},
        "data": [str(p) for p in data],
        "prompts": [str(r / f"prompts/{c}.parquet") for c in langs],
        "config": config.model_dump(),
        "seed": params.seed,
        "threads": 1,
        "out_dir": str(work / "out"),
        "metrics_path": str(work / "metrics.json"),
        "work_dir": str(work / "resume"),
        "made_by": {"benchmark": "training_step"},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", type=Path, help="a built tree (results/tiny with checkpoints)")
    ap.add_argument("--family", default="romance")
    ap.add_argument("--stage", choices=("sft", "dpo", "online"), default="dpo")
    ap.add_argument("--rows", type=int, help="repeat the training rows to this many (default: as built)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override a key of the stage's section")
    ap.add_argument("--profile", type=Path, help="write a cProfile of the job here")
    args = ap.parse_args()
    seed = str(yaml.safe_load((args.root / "params.yaml").read_text())["seed"])
    if os.environ.get("PYTHONHASHSEED") != seed:  # as the launcher runs a job: the same numbers as the build's
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": seed})
    start_cpu, start = time.process_time(), time.perf_counter()
    import expanse.training.trainers as tr

    imports = (time.process_time() - start_cpu, time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        spec = job_spec(args.root.resolve(), args.family, args.stage, Path(tmp))
        for kv in args.set:
            key, value = kv.split("=", 1)
            spec["config"][key] = json.loads(value)
        os.chdir(args.root)
        phases: dict[str, list[tuple[float, float]]] = {}

        def timed(name, fn):
            def wrapper(*a, **k):
                c, w = time.process_time(), time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    phases.setdefault(name, []).append((time.process_time() - c, time.perf_counter() - w))

            return wrapper

        def grown(fn):
            def wrapper(*a):
                rows = fn(*a)
                if args.rows:
                    rows["train"] = [rows["train"][i % len(rows["train"])] for i in range(args.rows)]
                return rows

            return wrapper

        tr.sft_rows, tr.preference_rows = grown(tr.sft_rows), grown(tr.preference_rows)
        build = tr.build_trainer

        def build_timed(s):
            trainer, tok, sizes = build(s)
            trainer.train = timed("train loop", trainer.train)
            trainer._save_checkpoint = timed("checkpoint saves", trainer._save_checkpoint)
            return trainer, tok, sizes

        tr.build_trainer = timed("build (load, tokenize)", build_timed)
        tr._eval = timed("dev evaluation", tr._eval)
        tr._finish = timed("final save", tr._finish)
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        from expanse.training.config import TrainJob

        metrics = timed("job", tr.train)(TrainJob.model_validate(spec))
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
    steps = metrics["global_step"]
    print(
        f"{args.family}/{args.stage}: {metrics['train_rows']} training rows, {metrics['dev_rows']} dev rows, "
        f"{steps} steps, config {json.dumps(spec['config'])}"
    )
    print(f"  {'imports':24s} cpu {imports[0]:7.2f} s  wall {imports[1]:7.2f} s")
    for name, runs in phases.items():
        cpu, wall = sum(c for c, _ in runs), sum(w for _, w in runs)
        print(f"  {name:24s} cpu {cpu:7.2f} s  wall {wall:7.2f} s  ({len(runs)}x)")
    loop = phases["train loop"][0][0] - sum(c for c, _ in phases.get("checkpoint saves", []))
    print(f"  per step (loop less saves): cpu {loop / max(1, steps):.3f} s")
    keys = ("loss", "rewards/accuracies", "rewards/margins")
    for when in ("eval_before", "eval_after"):
        print(f"  dev {when[5:]:6s}: " + ", ".join(f"{k} {metrics[when][k]}" for k in keys if k in metrics[when]))


if __name__ == "__main__":
    main()
