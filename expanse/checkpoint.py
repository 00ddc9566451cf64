"""Writing and loading HF checkpoint directories: safetensors only, atomically, with a model card."""

from __future__ import annotations

import json
from pathlib import Path

from expanse.io import atomic_path


def model_card(title: str, made_by: dict) -> str:
    lines = [f"# {title}", "", "Built by expanse (https://arxiv.org/abs/2412.04261 recipe).", "", "## What made it", ""]
    for key, value in made_by.items():
        lines.append(f"- **{key}**: `{json.dumps(value, sort_keys=True, ensure_ascii=False)}`")
    return "\n".join(lines) + "\n"


def save_checkpoint(out_dir, model, tokenizer, *, title: str, made_by: dict, metrics: dict | None = None) -> None:
    """save_pretrained (safetensors) + tokenizer + model card + resolved config, renamed into place at once."""
    with atomic_path(out_dir, directory=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(model_card(title, made_by), encoding="utf-8")
        (tmp / "expanse_config.json").write_text(json.dumps(made_by, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        if metrics is not None:
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def load_kwargs(ref: dict) -> dict:
    """from_pretrained keyword arguments for a resolved model reference: safetensors only, and
    remote code only where the params entry opts in."""
    kwargs = {"use_safetensors": True, "trust_remote_code": bool(ref.get("trust_remote_code", False))}
    if ref.get("revision"):
        kwargs["revision"] = ref["revision"]
    return kwargs


def resolve(ref: dict, local_dir: str | None) -> str:
    """The from_pretrained location of a model reference: the hub ID, the path, or the built tiny dir."""
    if ref.get("hf"):
        return ref["hf"]
    if ref.get("path"):
        return ref["path"]
    if local_dir is None:
        raise ValueError("a tiny model reference needs the directory it was built in")
    return str(Path(local_dir))
