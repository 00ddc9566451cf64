"""Task arithmetic: base + lambda * sum(w_i * (t_i - base)) (divided by sum(w_i) if `normalize`)."""

from __future__ import annotations

from expanse.merging.deltas import TaskParams, combine

NEEDS_BASE = True


class Params(TaskParams):
    pass


def merge(tensors, weights, base, params: Params, name: str):
    return combine(tensors, weights, base, normalize=params.normalize, lam=params.lambda_)
