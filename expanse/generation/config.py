"""The params model of generation (scales.<scale>.generation)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from expanse.generation import BACKENDS
from expanse.schema import (
    MAX_TOKENS,
    BatchSize,
    Float,
    Fraction,
    Int,
    Strict,
    Temperature,
    Tokens,
)


class GenerationCfg(Strict):
    backend: str = "transformers"
    max_new_tokens: Tokens = 64
    min_new_tokens: Annotated[Int, Field(ge=0, le=MAX_TOKENS)] = 0
    temperature: Temperature = 0.0
    top_p: Fraction = 1.0
    repetition_penalty: Annotated[Float, Field(gt=0, le=10)] = 1.0
    no_repeat_ngram_size: Annotated[Int, Field(ge=0, le=1024)] = 0
    batch_size: BatchSize = 16
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "auto"

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, v):
        if v not in BACKENDS:
            raise ValueError(BACKENDS.unknown(v))
        return v

    @model_validator(mode="after")
    def _lengths(self):
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(
                f"min_new_tokens: {self.min_new_tokens} is more than max_new_tokens ({self.max_new_tokens})"
            )
        return self
