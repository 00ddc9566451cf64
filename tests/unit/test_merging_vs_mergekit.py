"""expanse.merging against mergekit 0.1.5 as ground truth, on Llama-architecture pico models
built here (mergekit cannot load Aya's Cohere models without q_norm/k_norm; ours can)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import checkpoint_tensors

from expanse.merging.engine import merge_checkpoints

if os.environ.get("CI"):  # the test extra installs it: under CI a missing mergekit is a failure, not a skip
    import mergekit  # noqa: F401
else:
    pytest.importorskip("mergekit")
MERGEKIT_YAML = shutil.which("mergekit-yaml", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def picos(tmp_path_factory):
    from transformers import AutoModelForCausalLM, LlamaConfig

    root = tmp_path_factory.mktemp("picos")
    cfg = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_config(cfg)
    base.save_pretrained(root / "base")
    paths = {"base": str(root / "base")}
    for i in range(3):  # fine-tunes of the base: the base plus a different small delta each
        model = AutoModelForCausalLM.from_config(cfg)
        model.load_state_dict(base.state_dict())
        g = torch.Generator().manual_seed(100 + i)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.02)
        model.save_pretrained(root / f"m{i}")
        paths[f"m{i}"] = str(root / f"m{i}")
    return root, paths


def mergekit(root, config, name):
    (root / f"{name}.yml").write_text(yaml.safe_dump({**config, "dtype": "float32"}))
    out = root / f"mk_{name}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([MERGEKIT_YAML, str(root / f"{name}.yml"), str(out)], check=True, capture_output=True, env=env)
    return checkpoint_tensors(out)


CASES = {
    "linear": (
        {
            "merge_method": "linear",
            "models": [("m0", {"weight": 1.0}), ("m1", {"weight": 2.0}), ("m2", {"weight": 0.5})],
        },
        {"models": ["m0", "m1", "m2"], "weights": [1.0, 2.0, 0.5]},
    ),
    "slerp": (
        {"merge_method": "slerp", "base_model": "m0", "models": [("m0", {}), ("m1", {})], "parameters": {"t": 0.3}},
        {"models": ["m0", "m1"], "params": {"t": 0.3}},
    ),
    "task_arithmetic": (
        {
            "merge_method": "task_arithmetic",
            "base_model": "base",
            "models": [("m0", {"weight": 0.7}), ("m1", {"weight": 0.3}), ("m2", {"weight": 1.0})],
            "parameters": {"lambda": 0.8},
        },
        {"models": ["m0", "m1", "m2"], "weights": [0.7, 0.3, 1.0], "base": "base", "params": {"lambda": 0.8}},
    ),
    "ties": (
        {
            "merge_method": "ties",
            "base_model": "base",
            "models": [
                ("m0", {"weight": 1.0, "density": 0.5}),
                ("m1", {"weight": 0.5, "density": 0.5}),
                ("m2", {"weight": 1.0, "density": 0.5}),
            ],
        },
        {"models": ["m0", "m1", "m2"], "weights": [1.0, 0.5, 1.0], "base": "base", "params": {"density": 0.5}},
    ),
}


@pytest.mark.parametrize("method", list(CASES))
def test_same_tensors_as_mergekit(picos, method):
    root, paths = picos
    mk_cfg, ours = CASES[method]
    mk_cfg = {**mk_cfg, "models": [{"model": paths[m], "parameters": p} for m, p in mk_cfg["models"]]}
    if "base_model" in mk_cfg:
        mk_cfg["base_model"] = paths[mk_cfg["base_model"]]
    expected = mergekit(root, mk_cfg, method)
    merge_checkpoints(
        [paths[m] for m in ours["models"]],
        str(root / f"ours_{method}"),
        method=method,
        weights=ours.get("weights"),
        params=ours.get("params"),
        base=paths[ours["base"]] if "base" in ours else None,
    )
    got = checkpoint_tensors(root / f"ours_{method}")
    assert set(got) == set(expected)
    for name, t in expected.items():
        assert got[name].dtype == t.dtype == torch.float32
        assert torch.allclose(got[name], t, atol=1e-6, rtol=0), (method, name, (got[name] - t).abs().max().item())
    changed = [n for n in got if not torch.equal(got[n], checkpoint_tensors(paths[ours["models"][0]])[n])]
    assert changed  # the merge did something
