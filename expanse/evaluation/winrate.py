"""Pairwise win-rate arithmetic. A judge gives a verdict per prompt and order: "A", "B" or "tie".
The model under test is A in the first order and B in the swapped one; a prompt's outcome is the
mean of its two outcomes from the model's side (win 1, tie 0.5, loss 0), so a judge that always
prefers the first answer gives 0.5 whatever the answers. The win-rate is the mean outcome; its 95%
interval is a seeded percentile bootstrap over prompts."""

from __future__ import annotations

import numpy as np

VERDICTS = ("A", "B", "tie")


def outcome(verdict: str, model_is: str) -> float:
    """1 / 0.5 / 0 for the model in position `model_is` ("A" or "B")."""
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r} (known: {', '.join(VERDICTS)})")
    if verdict == "tie":
        return 0.5
    return 1.0 if verdict == model_is else 0.0


def prompt_outcomes(model_first: list[str], model_second: list[str]) -> list[float]:
    """Per prompt: the verdicts with the model as A (first order) and as B (swapped order)."""
    if len(model_first) != len(model_second):
        raise ValueError(f"{len(model_first)} verdicts in the first order, {len(model_second)} in the swapped one")
    return [(outcome(a, "A") + outcome(b, "B")) / 2 for a, b in zip(model_first, model_second)]


def bootstrap_interval(outcomes: list[float], *, samples: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap of the mean over prompts (resampled with replacement)."""
    x = np.asarray(outcomes, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no outcomes to bootstrap")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(samples, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def summarize(model_first: list[str], model_second: list[str], *, samples: int, seed: int) -> dict:
    """Win-rate, its interval and the counts of one model against one opponent."""
    outcomes = prompt_outcomes(model_first, model_second)
    lo, hi = bootstrap_interval(outcomes, samples=samples, seed=seed)
    per_order = [outcome(v, "A") for v in model_first] + [outcome(v, "B") for v in model_second]
    return {
        "n_prompts": len(outcomes),
        "win_rate": round(float(np.mean(outcomes)), 6),
        "ci_low": round(lo, 6),
        "ci_high": round(hi, 6),
        "wins": sum(o == 1.0 for o in per_order),
        "ties": sum(o == 0.5 for o in per_order),
        "losses": sum(o == 0.0 for o in per_order),
        "first_position_rate": round(sum(v == "A" for v in model_first + model_second) / (2 * len(outcomes)), 6),
    }
