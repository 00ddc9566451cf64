"""DVC's own overhead on a built graph of a scale's stage count: `dvc status` and a no-op
`dvc repro` over a scale's pipeline files; for tiny also the plain `dvc status` and `dvc repro`
(no target: what a user types; .dvcignore hides the 8b and 32b pipelines from them). With
--shrink (or --cold: the full default graph), the cold build of the tiny graph by
`snakemake -c2 all` (then `record`), by plain `dvc repro` and by `python -m expanse.dvc_pipeline
repro` (--only some of them), each in its own copy that runs its own code, then the overhead on
the DVC-built one. Prints figures; asserts nothing.

32b artifacts cannot be built here, so every output of the generated pipeline is filled with a
small placeholder (a checkpoint directory gets the files of a sharded safetensors checkpoint:
config, tokenizer and --shards weight shards), recorded with `dvc commit`, and then timed. What DVC
does on a no-op run is stat every dep and out and compare with its state database (hashes are
cached by inode, mtime and size), so the figures depend on the number of stages and files, not on
their sizes; the first `dvc status` after the commit is reported separately.

    .venv/bin/python benchmarks/dvc_overhead.py                 # 32b
    .venv/bin/python benchmarks/dvc_overhead.py --scale 8b --repeat 3
    .venv/bin/python benchmarks/dvc_overhead.py --built /tmp/dvcfull --scale tiny  # a real built repo, as it is
    .venv/bin/python benchmarks/dvc_overhead.py --built /tmp/dvcfull --scale tiny --edit ar  # then ar's rebuild
    .venv/bin/python benchmarks/dvc_overhead.py --shrink --keep /tmp/dvcshrink       # cold builds (about 40 min)
    .venv/bin/python benchmarks/dvc_overhead.py --shrink --only "snakemake -c2 all,dvc_pipeline repro"
    .venv/bin/python benchmarks/dvc_overhead.py --cold --only "snakemake -c2 all,dvc_pipeline repro"  # full graph

The machine's other load shows in the wall times; the CPU time (user + sys) of each command is
printed beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from shrink import REPO, copy_repo, shrink_params  # noqa: E402

from expanse.dvc_pipeline import pipeline_files, scales_of  # noqa: E402

CHECKPOINT_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "README.md",
    "model.safetensors.index.json",
)


# the scales whose pipelines .dvcignore hides: DVC runs through `python -m expanse.dvc_pipeline dvc SCALE`
DEFAULT, *HIDDEN = scales_of(REPO)
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def timed(root: Path, argv: list[str], own_code: bool = False) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall s, CPU s of the command and its children, result); with own_code, the copy's `expanse`
    is imported first (not the one the virtualenv's editable install points at)."""
    env = {**ENV, "PYTHONPATH": str(root)} if own_code else ENV
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(argv, cwd=root, text=True, capture_output=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out


def dvc_argv(scale: str, *args: str) -> list[str]:
    if scale in HIDDEN:
        return [sys.executable, "-m", "expanse.dvc_pipeline", "dvc", scale, *args]
    return [sys.executable, "-m", "dvc", *args]


def dvc(root: Path, *args: str, scale: str = DEFAULT) -> tuple[float, subprocess.CompletedProcess]:
    seconds, _, out = timed(root, dvc_argv(scale, *args))
    return seconds, out


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
                names = [
                    *CHECKPOINT_FILES,
                    *(f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)),
                ]
                for name in names:
                    (path / name).write_bytes(hashlib.sha256(f"{out}/{name}".encode()).digest() * 32)
                dirs += 1
                files += len(names)
    return files, dirs


def all_stages(root: Path, files: list[str]) -> dict:
    """The stages of a scale's pipeline files (its main file and its stages' own files)."""
    return {n: st for f in files for n, st in yaml.safe_load((root / f).read_text())["stages"].items()}


def timed_runs(root: Path, files: list[str], repeat: int, scale: str) -> None:
    runs = [("dvc status", ["status", *files]), ("dvc repro (no-op)", ["repro", *files])]
    if scale == DEFAULT:  # what a user types: no target
        runs = [("plain dvc status", ["status"]), ("plain dvc repro (no-op)", ["repro"]), *runs]
    runs.append(("dvc_pipeline repro (no-op)", ["--scale", scale]))
    for label, args in runs:
        walls, cpus = [], []
        for _ in range(repeat):
            if label.startswith("dvc_pipeline"):
                argv = [sys.executable, "-m", "expanse.dvc_pipeline", "repro", *args]
            else:
                argv = dvc_argv(scale, *args)
            wall, cpu, out = timed(root, argv)
            if out.returncode != 0:
                raise SystemExit(f"{label} failed:\n{out.stderr[-2000:]}")
            walls.append(wall)
            cpus.append(cpu)
        text = (out.stdout + out.stderr).strip().splitlines()
        print(
            f"{label:27s} "
            + "  ".join(f"{w:6.1f} s ({c:4.1f} s CPU)" for w, c in zip(walls, cpus))
            + f"   ({text[-1] if text else ''})"
        )


COLD = {  # label: (directory, command)
    "snakemake -c2 all": ("snakemake", [sys.executable, "-m", "snakemake", "-c2", "--quiet", "all", "--", "all"]),
    "dvc repro": ("dvc", [sys.executable, "-m", "dvc", "repro"]),
    "dvc_pipeline repro": ("dvc_pipeline", [sys.executable, "-m", "expanse.dvc_pipeline", "repro"]),
}


def cold_builds(dest: Path, repeat: int, only: list[str], shrink: bool, edit: str | None = None) -> None:
    """Build the tiny graph (shrunk, or the full default one) cold with Snakemake (2 cores, then
    `record`), with plain `dvc repro` and with `python -m expanse.dvc_pipeline repro` (DVC,
    independent stages side by side), each in a fresh copy running its own code; with `edit`, the
    rebuild by dvc_pipeline repro after that language's prompts are edited."""
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    params = shrink_params(params) if shrink else None  # None: params.yaml as it is
    figures = {}
    for label in only:
        folder, argv = COLD[label]
        root = copy_repo(dest / folder, params)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        gen = subprocess.run(
            [sys.executable, "-m", "expanse.dvc_pipeline"], cwd=root, text=True, capture_output=True, env=ENV
        )
        if gen.returncode != 0:
            raise SystemExit(f"generating the shrunk pipelines failed:\n{gen.stderr[-2000:]}")
        for lock in root.rglob("dvc.lock"):  # cold: nothing recorded
            lock.unlink()
        stages = len(all_stages(root, pipeline_files(root, "tiny")))
        wall, cpu, out = timed(root, argv, own_code=True)
        (dest / f"{folder}.out").write_text(out.stdout + out.stderr)  # dvc_pipeline repro: each stage's start and end
        if out.returncode != 0:
            raise SystemExit(f"{label} failed:\n{out.stderr[-3000:]}")
        print(f"cold {label:20s} {wall:8.0f} s ({cpu:.0f} s CPU; {stages} DVC stages)", flush=True)
        if folder == "snakemake":  # then recorded in dvc.lock, as the README says to
            rec_wall, rec_cpu, rec = timed(
                root, [sys.executable, "-m", "expanse.dvc_pipeline", "record"], own_code=True
            )
            if rec.returncode != 0:
                raise SystemExit(f"record failed:\n{rec.stderr[-3000:]}")
            print(f"  + dvc_pipeline record  {rec_wall:8.0f} s ({rec_cpu:.0f} s CPU)", flush=True)
            figures["record"] = rec_wall
        figures[label] = wall
    base = figures.get("snakemake -c2 all")
    for label in only:
        if base and label != "snakemake -c2 all":
            print(f"cold {label} / cold snakemake -c2 all: {figures[label] / base:.2f}x", end="")
            print(f"; / snakemake -c2 all + record: {figures[label] / (base + figures['record']):.2f}x")
    built = next((COLD[label][0] for label in ("dvc_pipeline repro", "dvc repro") if label in figures), None)
    if built:
        timed_runs(dest / built, pipeline_files(dest / built, "tiny"), repeat, "tiny")
    if edit is not None and "dvc_pipeline repro" in figures:
        one_language_rebuild(dest / COLD["dvc_pipeline repro"][0], params, edit or None)


def one_language_rebuild(root: Path, params: dict | None, lang: str | None) -> None:
    """Edit one language's prompt file (as benchmarks/tiny_graph.py does) in the DVC-built copy and
    time `python -m expanse.dvc_pipeline repro`: the stages it reruns and its wall time."""
    from tiny_graph import edit_prompts

    params = params or yaml.safe_load((root / "params.yaml").read_text())
    lang = lang or next(iter(params["languages"]))
    for lock in pipeline_files(root, "tiny"):  # what the cold build recorded
        lock = Path(lock).with_name("dvc.lock")
        (root.parent / "dvc.lock.cold" / lock).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / lock, root.parent / "dvc.lock.cold" / lock)
    edit_prompts(root / params["languages"][lang]["prompts"])
    wall, cpu, out = timed(root, [sys.executable, "-m", "expanse.dvc_pipeline", "repro"], own_code=True)
    (root.parent / f"rebuild-{lang}.out").write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        raise SystemExit(f"dvc_pipeline repro after editing {lang}'s prompts failed:\n{out.stderr[-3000:]}")
    last = (out.stdout + out.stderr).strip().splitlines()[-1]
    print(f"after editing {lang}'s prompts, dvc_pipeline repro: {wall:6.0f} s ({cpu:.0f} s CPU; {last})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="32b")
    ap.add_argument("--shards", type=int, default=14, help="weight shards per checkpoint directory")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--built", type=Path, help="time this built, recorded repo instead of placeholders")
    ap.add_argument(
        "--keep",
        type=Path,
        help="build the placeholder repo (--shrink: the two built repos, in "
        "snakemake/ and dvc/) in this (new) directory and keep it",
    )
    ap.add_argument(
        "--shrink",
        action="store_true",
        help="time the cold builds of the shrunk tiny graph, by "
        "snakemake -c2 and by dvc repro, then DVC's overhead on the DVC-built one",
    )
    ap.add_argument(
        "--cold",
        action="store_true",
        help="the same cold builds on the full tiny graph (23 languages; about 20 min each)",
    )
    ap.add_argument(
        "--only",
        default=",".join(COLD),
        help=f"--shrink/--cold: the cold builds to time, comma-separated (default: {','.join(COLD)})",
    )
    ap.add_argument(
        "--edit",
        metavar="LANG",
        nargs="?",
        const="",
        help="--shrink/--cold (or --built DIR --scale tiny): then edit LANG's prompts (default: the first "
        "language) in the DVC-built copy (DIR) and time dvc_pipeline repro's rebuild",
    )
    args = ap.parse_args()
    if args.shrink or args.cold:
        only = args.only.split(",")
        bad = [x for x in only if x not in COLD]
        if bad:
            raise SystemExit(f"--only {bad[0]}: not one of {', '.join(COLD)}")
        if args.keep:
            cold_builds(args.keep, args.repeat, only, args.shrink, args.edit)
            return
        with tempfile.TemporaryDirectory() as tmp:
            cold_builds(Path(tmp), args.repeat, only, args.shrink, args.edit)
        return
    if args.built:
        files = pipeline_files(args.built, args.scale)
        stages = all_stages(args.built, files)
        print(f"{args.built}: {files[0]} and {len(files) - 1} more pipeline files, {len(stages)} stages")
        # a 'no-op' repro of a pipeline that is not built and recorded would run its stages for real
        _, out = dvc(args.built, "status", "--quiet", *files, scale=args.scale)
        if out.returncode != 0:
            raise SystemExit(
                f"{args.built / files[0]}: not up to date in DVC (`dvc status` lists changes); "
                "--built times only a built, recorded pipeline (for tiny add --scale tiny)"
            )
        timed_runs(args.built, files, args.repeat, args.scale)
        if args.edit is not None and args.scale == DEFAULT:  # then the one-language rebuild there
            one_language_rebuild(args.built, None, args.edit or None)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_repo(args.keep or Path(tmp) / "repo")
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        pipeline = pipeline_files(root, args.scale)
        stages = all_stages(root, pipeline)
        files, dirs = fill(root, stages, args.shards)
        print(
            f"{pipeline[0]} and {len(pipeline) - 1} more pipeline files: {len(stages)} stages, {files} files written "
            f"({dirs} checkpoint directories of {len(CHECKPOINT_FILES) + args.shards} files)"
        )
        seconds, out = dvc(root, "commit", "--force", "--quiet", *pipeline, scale=args.scale)
        if out.returncode != 0:
            raise SystemExit(f"dvc commit failed:\n{out.stderr[-2000:]}")
        print(f"{'dvc commit':22s} {seconds:6.1f} s")
        seconds, out = dvc(root, "status", *pipeline, scale=args.scale)
        print(f"{'dvc status (first)':22s} {seconds:6.1f} s")
        timed_runs(root, pipeline, args.repeat, args.scale)


if __name__ == "__main__":
    main()
