"""Preference pairs: the best valid completion of a prompt against its worst one.

A pair is kept only if the chosen answer is in the right language and it is clearly better: the
rejected answer is in the wrong language, or the score margin is at least `min_margin` and > 0.
Equal scores (ties) and identical texts are dropped.
"""

from __future__ import annotations

import polars as pl

from expanse.arbitrage import load_scores, rank
from expanse.io import read_parquet, write_parquet


def best_vs_worst(scores: pl.DataFrame, prompts: pl.DataFrame, *, min_margin: float, origin: str) -> pl.DataFrame:
    ranked = rank(scores)
    last = ranked.group_by("prompt_id").agg(pl.col("rank").max().alias("last"))
    ranked = ranked.join(last, on="prompt_id")
    cols = ["prompt_id", "lang", "completion", "score", "lang_ok"]
    chosen = ranked.filter(pl.col("rank") == 0).select(cols)
    rejected = ranked.filter((pl.col("rank") == pl.col("last")) & (pl.col("last") > 0)).select(cols)
    pairs = chosen.join(rejected, on="prompt_id", suffix="_rej")
    keep = (
        pl.col("lang_ok")
        & (pl.col("completion") != pl.col("completion_rej"))
        & (
            ~pl.col("lang_ok_rej")
            | (((pl.col("score") - pl.col("score_rej")) >= min_margin) & (pl.col("score") > pl.col("score_rej")))
        )
    )
    pairs = pairs.filter(keep).join(prompts.select(pl.col("id").alias("prompt_id"), "prompt"), on="prompt_id")
    return pairs.select(
        "prompt_id",
        "lang",
        "prompt",
        pl.col("completion").alias("chosen"),
        pl.col("completion_rej").alias("rejected"),
        pl.col("score").alias("chosen_score"),
        pl.col("score_rej").alias("rejected_score"),
        pl.lit(origin).alias("origin"),
    ).sort("prompt_id")


def run_pairs(score_paths: list[str], prompts_path: str, out_path: str, *, min_margin: float, origin: str) -> int:
    pairs = best_vs_worst(
        load_scores(score_paths), read_parquet(prompts_path, "prompts"), min_margin=min_margin, origin=origin
    )
    write_parquet(pairs, out_path, contract="pairs")
    return pairs.height
