"""Spherical interpolation of two models, tensor by tensor (as mergekit): each tensor, flattened,
moves along the great circle from model 0's to model 1's by `t`; nearly collinear tensors
interpolate linearly."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from expanse.merging.params import MethodParams

NEEDS_BASE = False
N_MODELS = 2


class Params(MethodParams):
    t: Annotated[float, Field(ge=0, le=1)] = 0.5
    dot_threshold: Annotated[float, Field(gt=0, le=1)] = 0.9995
    eps: Annotated[float, Field(gt=0)] = 1e-8


def merge(tensors, weights, base, params: Params, name: str):
    import torch

    v0, v1 = (x.float() for x in tensors)
    t = params.t
    a = v0.reshape(1, -1)
    b = v1.reshape(1, -1)
    if not a.shape[1]:
        return ((1 - t) * a + t * b).reshape(v0.shape)
    norm_a = torch.linalg.vector_norm(a, dim=1, keepdim=True)
    norm_b = torch.linalg.vector_norm(b, dim=1, keepdim=True)
    norm_a = torch.where(norm_a > params.eps, norm_a, 1)
    norm_b = torch.where(norm_b > params.eps, norm_b, 1)
    dot = ((a / norm_a) * (b / norm_b)).sum(dim=1, keepdim=True).clamp(-1, 1)
    linear = dot.abs() > params.dot_threshold
    theta = torch.acos(torch.where(linear, 0, dot))
    sin_theta = torch.sin(theta)
    coef_a = torch.where(linear, 1 - t, torch.sin((1 - t) * theta) / sin_theta)
    coef_b = torch.where(linear, t, torch.sin(t * theta) / sin_theta)
    return (coef_a * a + coef_b * b).reshape(v0.shape)
