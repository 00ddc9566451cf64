"""Weighted average: sum(w_i * t_i) / sum(w_i) (the recipe's merge; `normalize: false` keeps the raw sum)."""

from __future__ import annotations

from expanse.merging.params import MethodParams

NEEDS_BASE = False
# Each output element depends only on the same element of the inputs: the engine may merge a tensor
# in slices (cache-sized fp32 temporaries instead of one the size of the tensor).
ELEMENTWISE = True


class Params(MethodParams):
    normalize: bool = True


def merge(tensors, weights, base, params: Params, name: str):
    """fp32 accumulation; the other inputs are cast on the fly inside add_ (no fp32 copies)."""
    import torch

    out = tensors[0].to(torch.float32, copy=True)
    if weights[0] != 1:
        out.mul_(weights[0])
    for t, w in zip(tensors[1:], weights[1:]):
        out.add_(t, alpha=w)
    if params.normalize:
        out.div_(sum(weights))
    return out
