"""Shrink the real params.yaml for test runs (torchtune's way: shrink the shipped config, never keep
a separate one). Used by the workflow tests and benchmarks/tiny_graph.py."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TEST_LANGUAGES = ("fr", "es", "ru", "uk", "ja", "zh")


def family_of(params: dict, lang: str) -> str:
    return params["languages"][lang]["family"]


def shrink_params(
    params: dict,
    languages=TEST_LANGUAGES,
    *,
    steps: int = 150,
    reward_steps: int = 30,
    max_train: int = 8,
    max_new_tokens: int = 24,
    iterations: int = 2,
) -> dict:
    p = copy.deepcopy(params)
    p["languages"] = {c: v for c, v in p["languages"].items() if c in languages}
    used = {v["family"] for v in p["languages"].values()}
    p["families"] = {f: w for f, w in p["families"].items() if f in used}
    tiny = p["scales"]["tiny"]
    tiny["base"]["tiny"]["steps"] = steps * 2 // 3
    for ref in tiny["teachers"].values():
        ref["tiny"]["steps"] = steps
    tiny["reward_model"]["tiny"]["steps"] = reward_steps
    tiny["tiny"]["corpus"]["reward_pairs_per_language"] = 24
    tiny["prompts"]["max_train"] = max_train
    tiny["generation"]["max_new_tokens"] = max_new_tokens
    # a family has 2 languages x max_train rows: smaller batches, more epochs, to take real steps
    for section in (tiny["sft"], tiny["dpo"], tiny["online"]["dpo"]):
        section.update(batch_size=4, epochs=3, save_steps=5)
    tiny["online"]["iterations"] = iterations
    return p


def copy_repo(dest: Path, params: dict | None = None) -> Path:
    """A copy of the working tree (tracked and untracked files, not results) with shrunk params."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    for f in files:
        target = dest / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, target)
    if params is not None:
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    return dest
