"""Training rows of one family: the per-language files, split by the prompts' own split.

Rows of `train` prompts train; rows of `dev` prompts measure (held-out loss, reward margins);
`test` prompts never reach training.
"""

from __future__ import annotations

import polars as pl

from expanse.errors import DataError
from expanse.io import read_parquet


def _splits(prompts_paths: list[str]) -> pl.DataFrame:
    return pl.concat(
        [read_parquet(p, "prompts").select(pl.col("id").alias("prompt_id"), "split") for p in prompts_paths]
    )


def _load(paths: list[str], prompts_paths: list[str], contract: str) -> pl.DataFrame:
    rows = pl.concat([read_parquet(p, contract) for p in paths])
    rows = rows.join(_splits(prompts_paths), on="prompt_id", how="left", maintain_order="left")
    if rows["split"].null_count():
        raise DataError(f"rows of {', '.join(paths)} have prompt ids missing from the prompts files")
    return rows.sort(["lang", "prompt_id"])


def sft_rows(arbitrage_paths: list[str], prompts_paths: list[str]) -> dict[str, list[dict]]:
    """trl's conversational prompt-completion format {"prompt": [user], "completion": [assistant]} per
    split: the loss is on the completion only (completion_only_loss), with any chat template; trl's
    "messages" format would train on the prompt too."""
    rows = _load(arbitrage_paths, prompts_paths, "arbitrage")
    out = {}
    for split in ("train", "dev"):
        part = rows.filter(pl.col("split") == split)
        out[split] = [
            {
                "prompt": [{"role": "user", "content": r["prompt"]}],
                "completion": [{"role": "assistant", "content": r["completion"]}],
            }
            for r in part.iter_rows(named=True)
        ]
    if not out["train"]:
        raise DataError(f"no training rows in {', '.join(arbitrage_paths)}")
    return out


def preference_rows(pairs_paths: list[str], prompts_paths: list[str]) -> dict[str, list[dict]]:
    """trl's conversational preference format {"prompt", "chosen", "rejected"} per split."""
    rows = _load(pairs_paths, prompts_paths, "pairs")
    out = {}
    for split in ("train", "dev"):
        part = rows.filter(pl.col("split") == split)
        out[split] = [
            {
                "prompt": [{"role": "user", "content": r["prompt"]}],
                "chosen": [{"role": "assistant", "content": r["chosen"]}],
                "rejected": [{"role": "assistant", "content": r["rejected"]}],
            }
            for r in part.iter_rows(named=True)
        ]
    if not out["train"]:
        raise DataError(f"no training pairs in {', '.join(pairs_paths)}")
    return out
