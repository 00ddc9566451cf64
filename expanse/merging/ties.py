"""TIES: trim each delta to its `density` largest entries, elect a sign per entry (the sign of the
weighted sum), and average only the deltas that agree with it."""

from __future__ import annotations

from expanse.merging.deltas import SparseParams, combine, magnitude

NEEDS_BASE = True


class Params(SparseParams):
    normalize: bool = True


def merge(tensors, weights, base, params: Params, name: str):
    n = len(tensors)
    return combine(
        tensors,
        weights,
        base,
        normalize=params.normalize,
        lam=params.lambda_,
        consensus=True,
        sparsify=lambda i, d: magnitude(d, params.density_of(i, n), params.rescale),
    )
