"""What task arithmetic, TIES and DARE-TIES share: deltas from a base, optionally sparsified,
weighted, optionally sign-elected (TIES), summed, normalised and scaled; the same arithmetic as
mergekit's generalized task arithmetic."""

from __future__ import annotations

import zlib
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator

from expanse.merging.params import MethodParams

Density = Annotated[float, Field(gt=0, le=1)]


class TaskParams(MethodParams):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    normalize: bool = False
    lambda_: float = Field(1.0, alias="lambda")


class SparseParams(TaskParams):
    density: Density | list[Density] = 1.0  # fraction of each model's delta kept (one value or one per model)
    rescale: bool = False

    @field_validator("density")
    @classmethod
    def _non_empty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("density: give one value or one per model")
        return v

    def density_of(self, i: int, n: int) -> float:
        if isinstance(self.density, float):
            return self.density
        if len(self.density) != n:
            raise ValueError(f"density: {len(self.density)} values for {n} models")
        return self.density[i]


def _rescaled(delta, mask, rescale: bool, eps: float = 1e-7):
    masked = delta * mask
    if not rescale:
        return masked
    before, after = delta.abs().sum(), masked.abs().sum()
    if before < eps or after < eps:
        return masked
    return masked * (before / after)


def magnitude(delta, density: float, rescale: bool):
    """Keep the `density` fraction of entries with the largest magnitude (at least one)."""
    import torch

    if density >= 1:
        return delta
    k = max(1, int(density * delta.numel()))
    mask = torch.zeros(delta.numel(), dtype=delta.dtype)
    mask[torch.argsort(delta.abs().reshape(-1), descending=True)[:k]] = 1
    return _rescaled(delta, mask.reshape_as(delta), rescale)


def bernoulli(delta, density: float, rescale: bool, generator):
    """Keep each entry with probability `density` (DARE), from a seeded generator."""
    import torch

    if density >= 1:
        return delta
    mask = torch.bernoulli(torch.full_like(delta, density), generator=generator)
    return _rescaled(delta, mask, rescale)


def tensor_generator(seed: int, name: str, model: int):
    """The same random mask for the same tensor of the same model on every run."""
    import torch

    return torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(name.encode()) * 31 + model) % 2**63)


def combine(tensors, weights, base, *, normalize: bool, lam: float, sparsify=None, consensus: bool = False):
    """base + lam * mix(w_i * sparsify_i(t_i - base)); `sparsify(i, delta)` drops entries."""
    import torch

    base = base.float()
    tensors = [t.float() for t in tensors]
    deltas = torch.stack([(sparsify(i, t - base) if sparsify else t - base) for i, t in enumerate(tensors)])
    w = torch.tensor(weights, dtype=deltas.dtype).reshape(-1, *([1] * base.dim()))
    deltas.mul_(w)
    if consensus:
        majority = (deltas.sum(dim=0) >= 0).to(deltas.dtype) * 2 - 1
        mask = deltas.sign() == majority
        mixed = (deltas * mask).sum(dim=0)
        divisor = (w * mask).sum(dim=0)
        divisor[divisor == 0] = 1
    else:
        mixed = deltas.sum(dim=0)
        divisor = w.sum(dim=0)
        divisor[divisor.abs() < 1e-8] = 1
    if normalize:
        mixed = mixed / divisor
    if lam != 1:
        mixed = mixed * lam
    return base + mixed
