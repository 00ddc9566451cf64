"""DARE-TIES: drop each delta entry at random (keeping `density`, rescaled to the delta's L1 norm),
then TIES sign election. Seeded: the same masks on every run."""

from __future__ import annotations

from expanse.merging.deltas import SparseParams, bernoulli, combine, tensor_generator

NEEDS_BASE = True


class Params(SparseParams):
    rescale: bool = True
    seed: int = 0


def merge(tensors, weights, base, params: Params, name: str):
    n = len(tensors)
    return combine(
        tensors,
        weights,
        base,
        normalize=params.normalize,
        lam=params.lambda_,
        consensus=True,
        sparsify=lambda i, d: bernoulli(
            d, params.density_of(i, n), params.rescale, tensor_generator(params.seed, name, i)
        ),
    )
