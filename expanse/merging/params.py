"""What every method's parameters share: unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MethodParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
