"""Weighted average: sum(w_i * t_i) / sum(w_i) (the recipe's merge; `normalize: false` keeps the raw sum)."""

from __future__ import annotations

from expanse.merging.params import MethodParams

NEEDS_BASE = False


class Params(MethodParams):
    normalize: bool = True


def merge(tensors, weights, base, params: Params, name: str):
    import torch

    out = torch.zeros_like(tensors[0])
    for t, w in zip(tensors, weights):
        out.add_(t, alpha=w)
    if params.normalize:
        out.div_(sum(weights))
    return out
