"""Writing and loading HF checkpoint directories: safetensors only, atomically, with a model card."""

from __future__ import annotations

import json

from expanse.io import atomic_path


def model_card(title: str, made_by: dict) -> str:
    """The model card README text: a title, what made the model (one line per key, as JSON)."""
    lines = [f"# {title}", "", "Built by expanse (https://arxiv.org/abs/2412.04261 recipe).", "", "## What made it", ""]
    for key, value in made_by.items():
        lines.append(f"- **{key}**: `{json.dumps(value, sort_keys=True, ensure_ascii=False)}`")
    return "\n".join(lines) + "\n"


def write_card(directory, *, title: str, made_by: dict, metrics: dict | None = None) -> None:
    """The model card README, the resolved config that made the model and its metrics."""
    from pathlib import Path

    directory = Path(directory)
    (directory / "README.md").write_text(model_card(title, made_by), encoding="utf-8")
    (directory / "expanse_config.json").write_text(
        json.dumps(made_by, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
    if metrics is not None:
        (directory / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def save_checkpoint(out_dir, model, tokenizer, *, title: str, made_by: dict, metrics: dict | None = None) -> None:
    """save_pretrained (safetensors) + tokenizer + model card + resolved config, renamed into place at once."""
    with atomic_path(out_dir, directory=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        write_card(tmp, title=title, made_by=made_by, metrics=metrics)


def load_tokenizer(location: str, load: dict, *, padding_side: str):
    """The tokenizer of a model reference (the from_pretrained kwargs minus use_safetensors, which
    only concerns weights), with a pad token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(location, **{k: v for k, v in load.items() if k != "use_safetensors"})
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
