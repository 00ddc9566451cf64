"""The params model of the merge (scales.<scale>.merge): the method and its own params, the stages
merged, the output dtype and shard size, and the weight search. The merge rules' scripts validate
their params into these models; the merging library takes them."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from expanse.schema import Bool, Float, Int, NonNegativeFloat, Strict

MERGE_STAGES = ("sft", "dpo", "online")


class MergeSearchCfg(Strict):
    """A search over the family weights before the final merge, scored by the arbiter on each
    language's dev prompts (expanse/merging/search.py). budget: candidates evaluated, the hand-set
    weights included; max_language_drop: the floor, how far any language's mean score may fall
    below its score under the hand-set weights."""

    enabled: Bool = False
    method: Literal["random", "coordinate"] = "random"
    budget: Annotated[Int, Field(gt=0, le=10_000)] = 8
    max_language_drop: NonNegativeFloat = 0.05
    step: Annotated[Float, Field(gt=0, lt=1)] = 0.5


class MergeCfg(Strict):
    """How the family checkpoints become one model. Weights come from `families` (normalised by
    methods that normalise); `params` are the method's own, checked against its declaration."""

    method: str = "linear"
    params: dict[str, Any] = {}
    after: list[Literal["sft", "dpo", "online"]] = ["online"]
    out_dtype: Literal["float32", "bfloat16", "float16"] | None = None
    max_shard_gb: Annotated[Float, Field(gt=0, le=1000)] = 5.0
    search: MergeSearchCfg = MergeSearchCfg()

    @model_validator(mode="after")
    def _method(self):
        from expanse.merging.engine import MergeError, method_params

        try:
            module, _ = method_params(self.method, self.params)
        except MergeError as e:
            raise ValueError(f"method: {e}") from None
        # the method's own models are lax; params.yaml's numbers are finite and its booleans true/false
        flags = {f.alias or n for n, f in module.Params.model_fields.items() if f.annotation is bool}
        for key, value in self.params.items():
            values = value if isinstance(value, list) else [value]
            if any(isinstance(x, float) and not math.isfinite(x) for x in values):
                raise ValueError(f"params.{key}: Input should be a finite number")
            if key in flags and not isinstance(value, bool):
                raise ValueError(f"params.{key}: Input should be a valid boolean (true or false), got {value!r}")
        if "online" not in self.after:
            raise ValueError("after: the merged model is made after the last stage; 'online' must be listed")
        if self.after != [s for s in MERGE_STAGES if s in self.after]:
            raise ValueError(f"after: list stages once each, in training order ({', '.join(MERGE_STAGES)})")
        return self
