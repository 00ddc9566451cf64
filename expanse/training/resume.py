"""Resuming a killed training job (SLURM preemption, a crash, Ctrl-C).

A training job works in its resume directory (`results/{scale}/resume/{family}/{stage}/`, never an
output): the trainer saves `checkpoint-N/` there every `save_steps` steps, and the finished model
is renamed into the output directory only at the end, so Snakemake never sees a partial checkpoint.

A rerun resumes from the last *complete* checkpoint (the trainer writes `trainer_state.json` last,
with a plain write: a checkpoint without it, or with one that does not parse, was cut off mid-write
and is removed). The directory carries the
fingerprint of the job (spec, data file contents, model files): a job whose inputs or settings
changed starts over instead of resuming someone else's run.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from expanse.io import file_digest

if TYPE_CHECKING:
    from expanse.training.config import TrainJob

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STATE = "trainer_state.json"


def _model_digest(location: str) -> str:
    """A local model directory by its files' names, sizes and mtimes (hashing 60 GB of weights per
    job would cost minutes); a hub ID by itself (its revision is in the spec)."""
    root = Path(location)
    if not root.is_dir():
        return location
    entries = sorted(
        f"{p.relative_to(root)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in root.rglob("*") if p.is_file()
    )
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def fingerprint(spec: TrainJob) -> str:
    """The job's identity for resuming: its settings (not what the model card says), the contents of
    its data files, and its models' files."""
    parts = {
        "spec": spec.model_dump(mode="json", exclude={"made_by"}),
        "data": {p: file_digest(p) for p in sorted(set(spec.data) | set(spec.prompts))},
        "models": {m.location: _model_digest(m.location) for m in (spec.model, spec.ref_model) if m},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _complete(checkpoint: Path) -> bool:
    """The trainer's state file is there and whole (a kill inside its write leaves it empty or cut)."""
    try:
        return isinstance(json.loads((checkpoint / STATE).read_text(encoding="utf-8")), dict)
    except (OSError, ValueError):
        return False


def complete_checkpoints(work_dir: str | Path) -> list[tuple[int, Path]]:
    root = Path(work_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = CHECKPOINT.match(p.name)
        if m and p.is_dir() and _complete(p):
            found.append((int(m.group(1)), p))
    return sorted(found)


def last_checkpoint(work_dir: str | Path) -> str | None:
    found = complete_checkpoints(work_dir)
    return str(found[-1][1]) if found else None


def prepare_work_dir(spec: TrainJob) -> str | None:
    """Make the resume directory ready; return the checkpoint the run will resume from (or None)."""
    work = Path(spec.work_dir)
    stamp = work / "fingerprint"
    fp = fingerprint(spec)
    if work.exists() and (not stamp.is_file() or stamp.read_text().strip() != fp):
        print(
            f"resume: {work} belongs to another run of this job (inputs or settings changed); starting over", flush=True
        )
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fp + "\n")
    for p in work.iterdir():
        if CHECKPOINT.match(p.name) and p.is_dir() and not _complete(p):
            print(f"resume: removing incomplete {p.name}", flush=True)
            shutil.rmtree(p)
    for p in work.glob("final*"):
        shutil.rmtree(p, ignore_errors=True)
    last = last_checkpoint(work)
    print(f"resume: {'from ' + last if last else 'nothing to resume; training from the start'}", flush=True)
    return last


def finish(work_dir: str | Path) -> None:
    """The model is in place: the resume directory has served its purpose (and so have its
    parents, `resume/{family}/` and `resume/`, once empty)."""
    work = Path(work_dir)
    shutil.rmtree(work, ignore_errors=True)
    for parent in (work.parent, work.parent.parent):
        try:
            parent.rmdir()
        except OSError:
            break  # not empty (another stage of the family is training), or gone
