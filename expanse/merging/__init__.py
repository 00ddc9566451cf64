"""Merging checkpoints: a registry of methods (one module each) and a streaming engine.

The contract of a merge method (a module, registered in `METHODS`): `Params` (a pydantic model: its
parameters as data, unknown ones rejected), `NEEDS_BASE` (bool: whether it merges task vectors
against a base model) and `merge(tensors, weights, base, params, name) -> Tensor`: tensors in the
inputs' dtype, arithmetic and result in fp32.
`expanse.merging.engine.merge_checkpoints` streams tensors one at a time through them.
"""

from __future__ import annotations

from expanse.registry import Registry

METHODS = Registry(
    "merge method",
    {
        "linear": "expanse.merging.linear",
        "slerp": "expanse.merging.slerp",
        "task_arithmetic": "expanse.merging.task_arithmetic",
        "ties": "expanse.merging.ties",
        "dare_ties": "expanse.merging.dare_ties",
    },
    requires=("Params", "NEEDS_BASE", "merge"),
    contract="module with Params (pydantic), NEEDS_BASE: bool, merge(tensors, weights, base, params, name) -> Tensor",
)


def get_method(name: str):
    """The merge method module registered under `name`; UnknownNameError (a KeyError) otherwise."""
    return METHODS.get(name)
