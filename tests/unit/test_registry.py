"""The one registry shape: lazy "module:attr" targets, names(), get() raising a one-line
UnknownNameError, the contract checked on every registered entry, no heavy import until used."""

import subprocess
import sys
import types

import pytest

from expanse.arbiter import ARBITERS
from expanse.errors import ConfigError, ExpanseError, UnknownNameError
from expanse.evaluation.judges import JUDGES
from expanse.generation import BACKENDS
from expanse.merging import METHODS
from expanse.registry import Registry


def test_lazy_targets_names_and_unknown_names():
    reg = Registry("codec", {"json": "json:dumps", "module": "json", "missing": "json:no_such"}, requires=())
    assert reg.names() == ("json", "module", "missing") and list(reg) == list(reg.names()) and len(reg) == 3
    assert "json" in reg and "yaml" not in reg
    import json

    assert reg.get("json") is json.dumps and reg.get("module") is json
    assert reg.target("json") == "json:dumps"
    with pytest.raises(AttributeError):
        reg.get("missing")
    with pytest.raises(UnknownNameError) as e:
        reg.get("yaml")
    assert str(e.value) == "unknown codec 'yaml' (known: json, module, missing)"
    assert isinstance(e.value, ConfigError) and isinstance(e.value, ExpanseError) and isinstance(e.value, KeyError)
    assert e.value.args[0] == str(e.value)  # what expanse.merging.engine.method_params reads


def test_get_checks_the_contract():
    mod = types.ModuleType("expanse_test_registry_entry")
    mod.Thing = type("Thing", (), {"run": staticmethod(lambda: 1)})
    sys.modules[mod.__name__] = mod
    try:
        ok = Registry("widget", {"a": f"{mod.__name__}:Thing"}, requires=("run",))
        assert ok.get("a") is mod.Thing
        bad = Registry("widget", {"a": f"{mod.__name__}:Thing"}, requires=("run", "stop"))
        with pytest.raises(TypeError, match="widget 'a' .* lacks stop"):
            bad.get("a")
    finally:
        del sys.modules[mod.__name__]


@pytest.mark.parametrize(
    ("registry", "names"),
    [
        (BACKENDS, ("transformers", "vllm")),
        (ARBITERS, ("reward_model", "language_fidelity", "combined")),
        (JUDGES, ("reward_model", "llm")),
        (METHODS, ("linear", "slerp", "task_arithmetic", "ties", "dare_ties")),
    ],
)
def test_every_registered_entry_meets_its_contract(registry, names):
    assert registry.names() == names
    for name in names:
        if registry is BACKENDS and name == "vllm":
            pytest.importorskip("vllm")
        entry = registry.get(name)
        assert all(hasattr(entry, a) for a in registry.requires), (name, registry.requires)
    with pytest.raises(UnknownNameError, match=f"unknown {registry.kind} 'nope' \\(known: {', '.join(names)}\\)"):
        registry.get("nope")


def test_importing_the_registries_imports_no_torch_nor_transformers():
    code = (
        "import sys\n"
        "import expanse.models\n"
        "alone = sorted(m for m in ('torch', 'transformers', 'expanse.tiny', 'expanse.arbiter') if m in sys.modules)\n"
        "assert not alone, alone\n"
        "import expanse.registry, expanse.generation, expanse.arbiter, expanse.evaluation.judges, expanse.merging\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'vllm', 'expanse.tiny') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
