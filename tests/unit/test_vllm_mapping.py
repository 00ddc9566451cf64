"""The vLLM backend's mapping (ours) from config to vLLM's documented arguments and back.
vLLM itself is a GPU-only extra and is not imported here."""

from types import SimpleNamespace

import pytest

from expanse.errors import ConfigError
from expanse.generation import vllm_backend as v
from expanse.generation.config import GenerationCfg

GEN = GenerationCfg(
    backend="vllm",
    max_new_tokens=2048,
    temperature=0.7,
    top_p=0.95,
    repetition_penalty=1.0,
    no_repeat_ngram_size=0,
    batch_size=256,
    dtype="bfloat16",
)


def test_tensor_parallel_from_the_rules_gpus_and_safe_loading():
    kw = v.engine_kwargs(
        "google/gemma-2-27b-it",
        load={"use_safetensors": True, "trust_remote_code": False, "revision": "abc123"},
        generation=GEN,
        seed=3,
        gpus=4,
    )
    assert kw == {
        "model": "google/gemma-2-27b-it",
        "tensor_parallel_size": 4,
        "dtype": "bfloat16",
        "seed": 3,
        "trust_remote_code": False,
        "revision": "abc123",
        "load_format": "safetensors",
    }
    with pytest.raises(ConfigError, match="at least one GPU"):
        v.engine_kwargs("m/x", load={}, generation=GEN, seed=3, gpus=0)


@pytest.mark.parametrize(
    "load",
    [
        {},
        {"use_safetensors": False},
        {"trust_remote_code": "yes"},
        {"use_safetensors": True, "trust_remote_code": True, "revision": "v1.0"},
    ],
)
def test_weights_load_as_safetensors_whatever_the_reference_says(load):
    """vLLM's default load_format ("auto") falls back to pickled .bin weights; ours never does, and
    remote code runs only for a real true (the validated params' boolean)."""
    kw = v.engine_kwargs("m/x", load=load, generation=GEN, seed=0, gpus=1)
    assert kw["load_format"] == "safetensors"
    assert kw["trust_remote_code"] is (load.get("trust_remote_code") is True)


def test_sampling_kwargs():
    assert v.sampling_kwargs(GEN, 4, 9) == {
        "n": 4,
        "temperature": 0.7,
        "top_p": 0.95,
        "max_tokens": 2048,
        "min_tokens": 0,
        "repetition_penalty": 1.0,
        "seed": 9,
    }


def test_request_outputs_to_completions():
    out = [
        SimpleNamespace(
            outputs=[
                SimpleNamespace(text=" Bonjour ", token_ids=[1, 2, 3], finish_reason="stop"),
                SimpleNamespace(text="Salut", token_ids=[4] * 7, finish_reason="length"),
            ]
        ),
        SimpleNamespace(outputs=[SimpleNamespace(text="Hola", token_ids=[5], finish_reason="abort")]),
    ]
    got = v.completions(out)
    assert [[(c.text, c.n_tokens, c.finish_reason) for c in r] for r in got] == [
        [("Bonjour", 3, "stop"), ("Salut", 7, "length")],
        [("Hola", 1, "abort")],
    ]
