"""Pairwise accuracy of every arbiter on held-out preference pairs (the tiny default is chosen by
it). A pair counts as correct when the arbitrage ranking (lang_ok, score) puts chosen first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from expanse.arbiter import ARBITERS, measure_rows, verdicts
from expanse.io import write_json
from expanse.tiny.reward_model import synthetic_preference_pairs

if TYPE_CHECKING:
    from expanse.arbiter.config import ArbiterCfg


def measure_accuracy(
    corpus_path: str,
    reward_model_dir: str,
    out_path: str,
    *,
    arbiter: ArbiterCfg,
    codes: list[str],
    n_per_language: int,
    seed: int,
) -> dict:
    from expanse.arbiter.reward_model import load_reward_model
    from expanse.schema import ModelSource

    rows = synthetic_preference_pairs(pl.read_parquet(corpus_path), codes, "heldout", n_per_language, seed + 7)
    rm = load_reward_model(
        ModelSource(location=reward_model_dir, load={"use_safetensors": True}), batch_size=arbiter.batch_size
    )
    chosen = [{"prompt": r["prompt"], "completion": r["chosen"], "lang": r["lang"]} for r in rows]
    rejected = [{"prompt": r["prompt"], "completion": r["rejected"], "lang": r["lang"]} for r in rows]
    # Reward and fidelity are measured once; each method only combines them differently.
    measured = [
        measure_rows(
            side, target_chars=arbiter.target_chars, high_accuracy=arbiter.lingua_high_accuracy, reward_model=rm
        )
        for side in (chosen, rejected)
    ]
    result = {"n_pairs": len(rows), "accuracy": {}, "by_kind": {}, "configured": arbiter.method}
    for method in ARBITERS.names():
        a, b = (
            verdicts(m, method=method, weights=arbiter.weights, min_lang_prob=arbiter.min_lang_prob) for m in measured
        )
        correct = [(x["lang_ok"], x["score"]) > (y["lang_ok"], y["score"]) for x, y in zip(a, b)]
        result["accuracy"][method] = round(sum(correct) / len(correct), 4)
        kinds: dict[str, list[bool]] = {}
        for r, ok in zip(rows, correct):
            kinds.setdefault(r["kind"], []).append(ok)
        result["by_kind"][method] = {k: round(sum(v) / len(v), 4) for k, v in sorted(kinds.items())}
    result["best"] = max(ARBITERS.names(), key=lambda m: (result["accuracy"][m], m == arbiter.method))
    write_json(result, out_path, contract="arbiter_accuracy")
    return result
