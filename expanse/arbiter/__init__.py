"""Registry of arbiters. Each scores (prompt, completion, language) rows; `score_rows` combines the
configured method's score with the language gate: a completion whose target-language probability
is below `min_lang_prob` gets `lang_ok = False` and can never win selection or be a chosen answer.

- `reward_model`: a sequence-classification reward model (the arbiter at 8b/32b)
- `language_fidelity`: lingua confidence in the target language - repetition - shortness penalties
- `combined`: weights.reward_model * reward + weights.language_fidelity * fidelity

The methods live in `expanse.arbiter.methods`, which states their contract. The reward model itself
is built by `expanse.arbiter.reward_model.load_reward_model`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from expanse.registry import Registry

if TYPE_CHECKING:
    from expanse.arbiter.config import ArbiterCfg
    from expanse.schema import ModelSource

ARBITERS = Registry(
    "arbiter",
    {
        "reward_model": "expanse.arbiter.methods:RewardModelArbiter",
        "language_fidelity": "expanse.arbiter.methods:LanguageFidelityArbiter",
        "combined": "expanse.arbiter.methods:CombinedArbiter",
    },
    requires=("NEEDS_REWARD_MODEL", "score"),
    contract="NEEDS_REWARD_MODEL: bool; score(weights, reward, fidelity) -> float",
)


def uses_reward_model(method: str) -> bool:
    return ARBITERS.get(method).NEEDS_REWARD_MODEL


def combine(method: str, weights: dict, reward: float | None, fidelity: float) -> float:
    arbiter = ARBITERS.get(method)
    if arbiter.NEEDS_REWARD_MODEL and (reward is None or math.isnan(reward)):
        raise ValueError(f"arbiter {method!r} needs a reward")
    return arbiter.score(weights, reward, fidelity)


def measure_rows(rows: list[dict], *, target_chars: int, high_accuracy: bool, reward_model=None) -> list[tuple]:
    """(reward, lang_prob, fidelity) per row of prompt, completion, lang; reward is None without a
    reward model. Every arbiter method is a combination of these (see `verdicts`)."""
    from expanse.arbiter.language_fidelity import LanguageFidelity

    fidelity = LanguageFidelity(target_chars=target_chars, high_accuracy=high_accuracy)
    fid = fidelity.score([r["completion"] for r in rows], [r["lang"] for r in rows])
    rewards: list[float | None] = [None] * len(rows)
    if reward_model is not None:
        rewards = reward_model.score([r["prompt"] for r in rows], [r["completion"] for r in rows])
    return [(reward, lang_prob, f) for (lang_prob, f), reward in zip(fid, rewards)]


def verdicts(measures: list[tuple], *, method: str, weights: dict, min_lang_prob: float) -> list[dict]:
    """reward, lang_prob, lang_ok, score per measured row under one arbiter method."""
    return [
        {
            "reward": reward,
            "lang_prob": lang_prob,
            "lang_ok": lang_prob >= min_lang_prob,
            "score": combine(method, weights, reward, f),
        }
        for reward, lang_prob, f in measures
    ]


def score_rows(
    rows: list[dict],
    *,
    method: str,
    weights: dict,
    min_lang_prob: float,
    target_chars: int,
    high_accuracy: bool,
    reward_model=None,
) -> list[dict]:
    """rows carry prompt, completion, lang; returns reward, lang_prob, lang_ok, score per row."""
    if uses_reward_model(method) and reward_model is None:
        raise ValueError(f"arbiter {method!r} needs a reward model")
    measures = measure_rows(
        rows,
        target_chars=target_chars,
        high_accuracy=high_accuracy,
        reward_model=reward_model if uses_reward_model(method) else None,
    )
    return verdicts(measures, method=method, weights=weights, min_lang_prob=min_lang_prob)


def run_scoring(
    generations_path: str,
    prompts_path: str,
    out_path: str,
    *,
    arbiter: ArbiterCfg,
    reward_model: ModelSource | None,
    gpus: int = 0,
) -> None:
    """Score one generations file with the configured arbiter; writes the scores contract.
    `reward_model`: the resolved reference (None when the method needs no reward model)."""
    import polars as pl

    from expanse.errors import DataError
    from expanse.io import read_parquet, write_parquet

    gens = read_parquet(generations_path, "generations")
    prompts = read_parquet(prompts_path, "prompts").select(pl.col("id").alias("prompt_id"), "prompt")
    rows = gens.join(prompts, on="prompt_id", how="left", maintain_order="left")
    if rows["prompt"].null_count():
        raise DataError(f"{generations_path}: prompt ids not in {prompts_path}")
    rm = None
    if uses_reward_model(arbiter.method):
        from expanse.arbiter.reward_model import load_reward_model

        rm = load_reward_model(reward_model, batch_size=arbiter.batch_size, gpus=gpus)
    scores = score_rows(
        rows.to_dicts(),
        method=arbiter.method,
        weights=arbiter.weights,
        min_lang_prob=arbiter.min_lang_prob,
        target_chars=arbiter.target_chars,
        high_accuracy=arbiter.lingua_high_accuracy,
        reward_model=rm,
    )
    out = pl.concat(
        [
            gens,
            pl.DataFrame(
                scores,
                schema={"reward": pl.Float64, "lang_prob": pl.Float64, "lang_ok": pl.Boolean, "score": pl.Float64},
            ),
        ],
        how="horizontal",
    )
    write_parquet(out, out_path, contract="scores")
