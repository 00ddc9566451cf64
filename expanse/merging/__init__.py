"""Merging checkpoints: a registry of methods (one module each) and a streaming engine.

Each method module declares `Params` (a pydantic model: its parameters as data, unknown ones
rejected), `NEEDS_BASE` and `merge(tensors, weights, base, params, name) -> Tensor`: tensors in the
inputs' dtype, arithmetic and result in fp32.
`expanse.merging.engine.merge_checkpoints` streams tensors one at a time through them.
"""

from __future__ import annotations

import importlib

METHODS = {
    "linear": "expanse.merging.linear",
    "slerp": "expanse.merging.slerp",
    "task_arithmetic": "expanse.merging.task_arithmetic",
    "ties": "expanse.merging.ties",
    "dare_ties": "expanse.merging.dare_ties",
}


def get_method(name: str):
    if name not in METHODS:
        raise KeyError(f"unknown merge method {name!r} (known: {', '.join(METHODS)})")
    return importlib.import_module(METHODS[name])
