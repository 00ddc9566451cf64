"""The params model of evaluation: the pairwise judge (scales.<scale>.eval.judge) and an lm-eval
benchmark (scales.<scale>.eval.benchmarks.<name>). The eval scripts validate their section into
these; the evaluation library takes them."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from expanse.evaluation.judges import JUDGES
from expanse.schema import BatchSize, Bool, Int, LanguageCodes, NonNegativeFloat, Strict, Tokens, context_root


class JudgeCfg(Strict):
    """The pairwise judge (expanse.evaluation.judges): `reward_model` scores each answer with the
    scale's reward model; `llm` has `model` read both answers (served by the generation backend).
    A job sees `model` as its params entry; the judge loads the resolved reference it is given."""

    method: str = "reward_model"
    model: dict[str, Any] | None = None
    tie_margin: NonNegativeFloat = 0.0
    max_new_tokens: Tokens = 512
    batch_size: BatchSize = 8

    @model_validator(mode="after")
    def _known(self):
        if self.method not in JUDGES:
            raise ValueError(f"method: {JUDGES.unknown(self.method)}")
        if self.method == "llm" and self.model is None:
            raise ValueError("model: the llm judge needs a judge model ({hf: ID} or {path: DIR})")
        if self.method != "llm" and self.model is not None:
            raise ValueError(f"model: the {self.method} judge takes no model (it uses the scale's reward_model)")
        return self


class BenchmarkCfg(Strict):
    """One lm-eval benchmark: `tasks` is the task name with {lang}; `languages` those it covers
    (None: every configured language); `include_path` a directory of local task YAMLs (then only
    those are indexed, not lm-eval's own); `metric`
    the key in lm-eval's results ("acc,none")."""

    tasks: str
    metric: str
    languages: LanguageCodes = None
    include_path: str | None = None
    # lm-eval task files may import Python from the task folder (`!function`); only where this is true
    allow_functions: Bool = False
    num_fewshot: Annotated[Int, Field(ge=0, le=1000)] | None = None
    limit: Annotated[Int, Field(gt=0, le=100_000_000)] | None = None
    batch_size: BatchSize = 8
    bootstrap_iters: Annotated[Int, Field(ge=0, le=1_000_000)] = 1000
    apply_chat_template: Bool = False

    @field_validator("tasks")
    @classmethod
    def _lang_slot(cls, v):
        if "{lang}" not in v:
            raise ValueError(f"tasks must contain {{lang}} (one lm-eval task per language), got {v!r}")
        # a task name, and the name of a task file under include_path
        if not re.fullmatch(r"(?:[A-Za-z0-9_.-]|\{lang\})+", v) or v[0] in ".-" or ".." in v:
            raise ValueError(
                f"tasks is an lm-eval task name with {{lang}} (A-Z a-z 0-9 _ . -, not starting with "
                f"'.' or '-'), got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _task_folder(self, info: ValidationInfo):
        if self.include_path is not None:
            from expanse.evaluation.benchmarks import check_task_folder

            check_task_folder(self.include_path, allow_functions=self.allow_functions, root=context_root(info))
        elif self.allow_functions:
            raise ValueError("allow_functions: only local task files (include_path) can use !function")
        return self

    @field_validator("metric")
    @classmethod
    def _metric(cls, v):
        if "," not in v:
            raise ValueError(f"metric is lm-eval's 'name,filter' key (e.g. 'acc,none'), got {v!r}")
        return v
