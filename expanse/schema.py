"""The base of every params model: a strict pydantic model and the value types params.yaml uses.

Each package that takes a params section owns that section's model (expanse.arbiter.config,
expanse.generation.config, expanse.tiny.spec), built on these types; expanse.config composes them
into the whole params.yaml. A job's script validates its section with the package's model, so it
imports only that package's code, not every package's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
)

from expanse.errors import ConfigError
from expanse.languages import LANGUAGES


def _not_bool(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError(f"Input should be a number, got {v!r}")
    return v


# Numbers are finite (the Strict base sets allow_inf_nan=False), integers are YAML integers (2.0, true
# and '2' are refused), and a boolean is only YAML true/false ('yes', 1 and 'on' are refused).
Float = Annotated[float, BeforeValidator(_not_bool)]
Int = StrictInt
Bool = StrictBool
NAME = r"^[a-z][a-z0-9_]*$"
PositiveFloat = Annotated[Float, Field(gt=0)]
PositiveInt = Annotated[Int, Field(gt=0)]
NonNegativeFloat = Annotated[Float, Field(ge=0)]
Fraction = Annotated[Float, Field(gt=0, le=1)]
LearningRate = Annotated[Float, Field(gt=0, lt=1)]
Temperature = Annotated[Float, Field(ge=0, le=10)]
# Bounds an ML engineer would not reach at 32b; larger values are typos that fail hours into a run.
MAX_TOKENS = 131072
MAX_BATCH = 65536
BatchSize = Annotated[Int, Field(gt=0, le=MAX_BATCH)]
Tokens = Annotated[Int, Field(gt=0, le=MAX_TOKENS)]
Steps = Annotated[Int, Field(gt=0, le=100_000_000)]
Name = Annotated[str, Field(pattern=NAME)]
ScaleName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*$")]
# Strings that reach sbatch's command line (the slurm executor submits through a shell): letters,
# digits and _ . - only, never a leading '-'.
SlurmWord = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
SLURM_OPTION = re.compile(r"--[a-z][a-z0-9-]*(?:=[A-Za-z0-9_.,:/@%+=-]+)?")


def _known_codes(codes: list[str] | None) -> list[str] | None:
    for code in codes or []:
        if code not in LANGUAGES:
            raise ValueError(f"unknown language code {code!r}")
    return codes


LanguageCodes = Annotated[list[str] | None, AfterValidator(_known_codes)]


def context_root(info: ValidationInfo) -> Path:
    """The directory relative paths in params.yaml are relative to (where Snakemake runs): the
    validation context's `root`, else the working directory."""
    return Path((info.context or {}).get("root") or ".")


class Strict(BaseModel):
    """Unknown keys are refused, values are frozen, numbers are finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @classmethod
    def of(cls, data: Any, key: str):
        """`data`, a job's params section (params.yaml's `key`), validated; otherwise a ConfigError of
        one line naming the key. A job validates again what the workflow validated when it started:
        a section's own checks (a task folder's files) may see a changed disk."""
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise ConfigError(one_line(e, "params.yaml", prefix=key)) from None

    def replaced(self, **changes):
        """A copy with `changes`, validated like the original (model_copy(update=...) would skip
        the checks)."""
        return type(self).model_validate({**self.model_dump(), **changes})


_KEY_PREFIX = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w]+)*): ")


class ModelSource(Strict):
    """A model a job loads, resolved from its params entry by expanse.workflow_support.model_ref: a
    local directory or hub ID (`location`) and its from_pretrained keywords (`load`: safetensors
    only; remote code only where the entry opts in; its revision)."""

    location: str
    load: dict[str, Any] = {}


def one_line(error: ValidationError, source: str, prefix: str = "") -> str:
    """The first problem of a validation error as one line: `source: key.path: what is wrong`
    (key.path under `prefix` when the data was the section at that key)."""
    loc, msg = first_problem(error, prefix)
    return f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}"


def first_problem(error: ValidationError, prefix: str = "") -> tuple[str, str]:
    """(key.path, what is wrong) of a validation error's first problem; key.path under `prefix`."""
    err = error.errors()[0]
    loc = ".".join([prefix] * bool(prefix) + [str(p) for p in err["loc"]])
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    # Cross-field checks start their message with the key they concern, relative to loc.
    key = _KEY_PREFIX.match(msg)
    if key:
        loc = f"{loc}.{key.group(1)}" if loc else key.group(1)
        msg = msg[key.end() :]
    return loc, msg
