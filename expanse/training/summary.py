"""What training did, per family: held-out SFT loss before/after, DPO reward margins and accuracy
on dev pairs, and the arbiter's mean score of the policy's own samples at each online iteration
(iteration `it` samples from the policy before it: the DPO model, then online_it1, ...)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from expanse.io import read_parquet, write_json

_METRICS = re.compile(r"checkpoints/(?P<family>[^/]+)/(?P<stage>[^/]+)\.metrics\.json$")
_SCORES = re.compile(r"online/(?P<family>[^/]+)/it(?P<it>\d+)/scores/(?P<lang>[^/]+)\.parquet$")


def sample_scores(score_paths: list[str], prompts_paths: list[str]) -> pl.DataFrame:
    """One row per (family, it, split): mean arbiter score and language-ok rate of the samples."""
    splits = pl.concat(
        [read_parquet(p, "prompts").select(pl.col("id").alias("prompt_id"), "split") for p in prompts_paths]
    )
    frames = []
    for path in score_paths:
        m = _SCORES.search(Path(path).as_posix())
        if not m:
            raise ValueError(f"{path}: not an online scores file")
        frames.append(
            read_parquet(path, "scores")
            .select("prompt_id", "score", "lang_ok")
            .with_columns(pl.lit(m["family"]).alias("family"), pl.lit(int(m["it"])).alias("it"))
        )
    rows = pl.concat(frames).join(splits, on="prompt_id", how="left")
    return (
        rows.group_by("family", "it", "split")
        .agg(
            pl.col("score").mean().alias("mean_score"),
            pl.col("lang_ok").mean().alias("lang_ok_rate"),
            pl.len().alias("n_samples"),
        )
        .sort("family", "it", "split")
    )


def summarize(
    metrics_paths: list[str],
    score_paths: list[str],
    prompts_paths: list[str],
    out_path: str,
    *,
    families: dict[str, list[str]],
) -> dict:
    out: dict = {f: {"languages": langs, "stages": {}, "online_samples": {}} for f, langs in families.items()}
    for path in metrics_paths:
        m = _METRICS.search(Path(path).as_posix())
        metrics = json.loads(Path(path).read_text())
        last = metrics["train"][-1] if metrics["train"] else {}
        out[m["family"]]["stages"][m["stage"]] = {
            "global_step": metrics["global_step"],
            "train_rows": metrics["train_rows"],
            "dev_rows": metrics["dev_rows"],
            "dev_before": metrics["eval_before"],
            "dev_after": metrics["eval_after"],
            "last_train_log": last,
        }
    if score_paths:
        for r in sample_scores(score_paths, prompts_paths).iter_rows(named=True):
            it = out[r["family"]]["online_samples"].setdefault(f"it{r['it']}", {})
            it[r["split"]] = {
                "mean_score": round(r["mean_score"], 6),
                "lang_ok_rate": round(r["lang_ok_rate"], 6),
                "n_samples": r["n_samples"],
            }
    write_json(out, out_path)
    return out
