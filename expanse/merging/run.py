"""The merge rules' entry: resolve the base (a local directory, or a hub ID fetched once into the
hub cache: safetensors, config and tokenizer files only) and merge."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from expanse.merging.engine import MergeError, merge_checkpoints

if TYPE_CHECKING:
    from expanse.merging.config import MergeCfg
    from expanse.schema import ModelSource

HUB_FILES = ["*.safetensors", "*.json", "tokenizer*", "*.jinja", "*.model"]


def resolve(ref: ModelSource) -> str:
    """A local model directory as it is; a hub ID fetched once into the hub cache (its path)."""
    location = ref.location
    if Path(location).is_dir():
        return location
    from huggingface_hub import snapshot_download  # HF_TOKEN, if needed, comes from the environment

    return snapshot_download(location, revision=ref.load.get("revision"), allow_patterns=HUB_FILES)


def engine_options(merge: MergeCfg) -> dict:
    """merge_checkpoints' options from a scale's validated merge section (params.yaml)."""
    return {
        "method": merge.method,
        "params": merge.params,
        "out_dtype": merge.out_dtype,
        "max_shard_bytes": int(merge.max_shard_gb * 2**30),
    }


def run_merge(
    checkpoints: list[str],
    out_dir: str,
    *,
    merge: MergeCfg,
    weights: list[float],
    families: list[str],
    base: ModelSource | None,
    stage: str,
) -> dict:
    if len(checkpoints) != len(families):
        raise MergeError(f"{len(checkpoints)} checkpoints for {len(families)} families")
    info = merge_checkpoints(
        checkpoints,
        out_dir,
        weights=weights,
        base=resolve(base) if base else None,
        made_by={"families": dict(zip(families, weights)), "after": stage},
        **engine_options(merge),
    )
    print(
        f"merged {len(checkpoints)} family checkpoints after {stage}: {info['tensors']} tensors, "
        f"{info['shards']} shard(s) -> {out_dir}",
        flush=True,
    )
    return info
