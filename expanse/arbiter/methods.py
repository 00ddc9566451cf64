"""The arbiter methods registered in `expanse.arbiter.ARBITERS`. Each combines the two measures of a
row (the reward model's reward, the language fidelity) into its score.

The contract of a method: `NEEDS_REWARD_MODEL` (bool: whether it reads the reward) and
`score(weights, reward, fidelity) -> float`, where `weights` is the arbiter's `weights` params
section and `reward` is a finite float whenever NEEDS_REWARD_MODEL is true.
"""

from __future__ import annotations


class RewardModelArbiter:
    """The reward model's score alone (the arbiter at 8b/32b)."""

    NEEDS_REWARD_MODEL = True

    @staticmethod
    def score(weights: dict, reward: float | None, fidelity: float) -> float:
        return reward


class LanguageFidelityArbiter:
    """Lingua confidence in the target language - repetition - shortness penalties."""

    NEEDS_REWARD_MODEL = False

    @staticmethod
    def score(weights: dict, reward: float | None, fidelity: float) -> float:
        return fidelity


class CombinedArbiter:
    """weights.reward_model * reward + weights.language_fidelity * fidelity (each weight 1.0 unless set)."""

    NEEDS_REWARD_MODEL = True

    @staticmethod
    def score(weights: dict, reward: float | None, fidelity: float) -> float:
        return weights.get("reward_model", 1.0) * reward + weights.get("language_fidelity", 1.0) * fidelity
