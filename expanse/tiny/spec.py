"""The params model of a tiny model (a model entry {tiny: ...}): what rules/tiny.smk builds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from expanse.schema import (
    BatchSize,
    Float,
    Int,
    LanguageCodes,
    LearningRate,
    Steps,
    Strict,
    Tokens,
)


class TinySpec(Strict):
    """A model built locally by rules/tiny.smk (no hub). `init` names the tiny model it starts from."""

    arch: Literal["cohere"] = "cohere"
    hidden: Annotated[Int, Field(gt=0, le=8192)] = 128
    layers: Annotated[Int, Field(gt=0, le=256)] = 4
    heads: Annotated[Int, Field(gt=0, le=256)] = 4
    kv_heads: Annotated[Int, Field(gt=0, le=256)] = 2
    ffn: Annotated[Int, Field(gt=0, le=65536)] = 512
    init: Literal["base"] | None = None
    languages: LanguageCodes = None  # pretraining focus; None = all configured languages
    other_weight: Annotated[Float, Field(ge=0, le=1000)] = 0.05
    steps: Steps = 100
    lr: LearningRate = 1e-3
    batch_size: BatchSize = 16
    seq_len: Tokens = 128

    @model_validator(mode="after")
    def _heads(self):
        if self.hidden % self.heads or self.heads % self.kv_heads:
            raise ValueError("hidden must be divisible by heads, heads by kv_heads")
        return self
