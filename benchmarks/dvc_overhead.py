"""DVC's own overhead on a built graph of a scale's stage count: `dvc status` and a no-op
`dvc repro` over pipelines/<scale>/dvc.yaml (687 stages at 32b). Prints figures; asserts nothing.

32b artifacts cannot be built here, so every output of the generated pipeline is filled with a
small placeholder (a checkpoint directory gets the files of a sharded safetensors checkpoint:
config, tokenizer and --shards weight shards), recorded with `dvc commit`, and then timed. What DVC
does on a no-op run is stat every dep and out and compare with its state database (hashes are
cached by inode, mtime and size), so the figures depend on the number of stages and files, not on
their sizes; the first `dvc status` after the commit is reported separately.

    .venv/bin/python benchmarks/dvc_overhead.py                 # 32b
    .venv/bin/python benchmarks/dvc_overhead.py --scale 8b --repeat 3
    .venv/bin/python benchmarks/dvc_overhead.py --built /tmp/dvcfull --scale tiny  # a real built repo, as it is
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from shrink import copy_repo  # noqa: E402

CHECKPOINT_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                    "README.md", "model.safetensors.index.json")


def dvc(root: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, text=True, capture_output=True)
    return time.perf_counter() - start, out


def fill(root: Path, stages: dict, shards: int) -> tuple[int, int]:
    """Write a placeholder for every out: (files, directories) written."""
    files = dirs = 0
    for st in stages.values():
        for out in st["outs"]:
            path = root / out
            if "." in Path(out).name:  # a file output
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(hashlib.sha256(out.encode()).digest() * 32)
                files += 1
            else:  # a directory output (checkpoint, merge, plots)
                path.mkdir(parents=True, exist_ok=True)
                names = [*CHECKPOINT_FILES, *(f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1))]
                for name in names:
                    (path / name).write_bytes(hashlib.sha256(f"{out}/{name}".encode()).digest() * 32)
                dirs += 1
                files += len(names)
    return files, dirs


def timed_runs(root: Path, pipeline: str, repeat: int) -> None:
    for label, args in (("dvc status", ["status", pipeline]), ("dvc repro (no-op)", ["repro", pipeline])):
        times = []
        for _ in range(repeat):
            seconds, out = dvc(root, *args)
            if out.returncode != 0:
                raise SystemExit(f"{label} failed:\n{out.stderr[-2000:]}")
            times.append(seconds)
        text = (out.stdout + out.stderr).strip().splitlines()
        print(f"{label:22s} " + "  ".join(f"{t:6.1f} s" for t in times) + f"   ({text[-1] if text else ''})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="32b")
    ap.add_argument("--shards", type=int, default=14, help="weight shards per checkpoint directory")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--built", type=Path, help="time this built, recorded repo instead of placeholders")
    ap.add_argument("--keep", type=Path, help="build the placeholder repo in this (new) directory and keep it")
    args = ap.parse_args()
    if args.built:
        pipeline = "dvc.yaml" if args.scale == "tiny" else f"pipelines/{args.scale}/dvc.yaml"
        stages = yaml.safe_load((args.built / pipeline).read_text())["stages"]
        print(f"{args.built}: {pipeline}, {len(stages)} stages")
        # a 'no-op' repro of a pipeline that is not built and recorded would run its stages for real
        _, out = dvc(args.built, "status", "--quiet", pipeline)
        if out.returncode != 0:
            raise SystemExit(f"{args.built / pipeline}: not up to date in DVC (`dvc status` lists changes); "
                             "--built times only a built, recorded pipeline (for tiny add --scale tiny)")
        timed_runs(args.built, pipeline, args.repeat)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_repo(args.keep or Path(tmp) / "repo")
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        pipeline = "dvc.yaml" if args.scale == "tiny" else f"pipelines/{args.scale}/dvc.yaml"
        stages = yaml.safe_load((root / pipeline).read_text())["stages"]
        files, dirs = fill(root, stages, args.shards)
        print(f"{pipeline}: {len(stages)} stages, {files} files written ({dirs} checkpoint directories "
              f"of {len(CHECKPOINT_FILES) + args.shards} files)")
        seconds, out = dvc(root, "commit", "--force", "--quiet", pipeline)
        if out.returncode != 0:
            raise SystemExit(f"dvc commit failed:\n{out.stderr[-2000:]}")
        print(f"{'dvc commit':22s} {seconds:6.1f} s")
        seconds, out = dvc(root, "status", pipeline)
        print(f"{'dvc status (first)':22s} {seconds:6.1f} s")
        timed_runs(root, pipeline, args.repeat)


if __name__ == "__main__":
    main()
