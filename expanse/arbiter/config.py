"""The params model of the arbiter (scales.<scale>.arbiter)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from expanse.arbiter import ARBITERS
from expanse.schema import (
    BatchSize,
    Bool,
    Float,
    Int,
    Strict,
)


class ArbiterCfg(Strict):
    method: str = "combined"
    weights: dict[str, Annotated[Float, Field(ge=0, le=1e6)]] = {"reward_model": 1.0, "language_fidelity": 1.0}
    min_lang_prob: Annotated[Float, Field(ge=0, le=1)] = 0.5
    target_chars: Annotated[Int, Field(gt=0, le=1_000_000)] = 200
    lingua_high_accuracy: Bool = False
    batch_size: BatchSize = 16

    @model_validator(mode="after")
    def _known(self):
        if self.method not in ARBITERS:
            raise ValueError(ARBITERS.unknown(self.method))
        for k in self.weights:
            if k not in ("reward_model", "language_fidelity"):
                raise ValueError(f"weights: unknown arbiter {k!r}")
        return self
