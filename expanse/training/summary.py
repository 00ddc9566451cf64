"""What training did, per family: held-out SFT loss before/after, DPO reward margins and accuracy
on dev pairs, and the arbiter's mean score of the policy's own samples at each online iteration
(iteration `it` samples from the policy before it: the DPO model, then online_it1, ...)."""

from __future__ import annotations

import polars as pl

from expanse.io import read_json, read_parquet, write_json


def sample_scores(scores: list[tuple[str, int, str]], prompts_paths: list[str]) -> pl.DataFrame:
    """One row per (family, it, split): mean arbiter score and language-ok rate of the samples.
    scores: (family, iteration, path of that iteration's scores file) for every file."""
    splits = pl.concat(
        [read_parquet(p, "prompts").select(pl.col("id").alias("prompt_id"), "split") for p in prompts_paths]
    )
    frames = []
    for family, it, path in scores:
        frames.append(
            read_parquet(path, "scores")
            .select("prompt_id", "score", "lang_ok")
            .with_columns(pl.lit(family).alias("family"), pl.lit(int(it)).alias("it"))
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
    metrics: list[tuple[str, str, str]],
    scores: list[tuple[str, int, str]],
    prompts_paths: list[str],
    out_path: str,
    *,
    families: dict[str, list[str]],
) -> dict:
    out: dict = {f: {"languages": langs, "stages": {}, "online_samples": {}} for f, langs in families.items()}
    for family, stage, path in metrics:
        m = read_json(path, "training_metrics")
        last = m["train"][-1] if m["train"] else {}
        out[family]["stages"][stage] = {
            "global_step": m["global_step"],
            "train_rows": m["train_rows"],
            "dev_rows": m["dev_rows"],
            "dev_before": m["eval_before"],
            "dev_after": m["eval_after"],
            "last_train_log": last,
        }
    if scores:
        for r in sample_scores(scores, prompts_paths).iter_rows(named=True):
            it = out[r["family"]]["online_samples"].setdefault(f"it{r['it']}", {})
            it[r["split"]] = {
                "mean_score": round(r["mean_score"], 6),
                "lang_ok_rate": round(r["lang_ok_rate"], 6),
                "n_samples": r["n_samples"],
            }
    write_json(out, out_path, contract="training_summary")
    return out
