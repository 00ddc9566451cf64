"""The transformers backend on a tiny model of the built graph: n samples of a prompt share one
prefill (the prompt's KV cache is repeated n times) and must be what generate gives for the prompt
on its own, also for left-padded prompts of different lengths."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def backend_and_prompts(built):
    import polars as pl

    from expanse.generation.config import GenerationCfg
    from expanse.generation.transformers_backend import Backend

    model = sorted(Path(built, "results/tiny/models/teachers").iterdir())[0]
    prompts = pl.read_parquet(sorted(Path(built, "results/tiny/prompts").glob("*.parquet"))[0])["prompt"].to_list()[:12]
    conversations = [[{"role": "user", "content": p}] for p in prompts]
    generation = {
        "backend": "transformers",
        "max_new_tokens": 24,
        "min_new_tokens": 4,
        "temperature": 0.0,
        "top_p": 1.0,
        "repetition_penalty": 1.2,
        "no_repeat_ngram_size": 3,
        "batch_size": 8,
        "dtype": "float32",
    }
    return lambda **over: Backend(
        str(model), load={"use_safetensors": True}, generation=GenerationCfg(**{**generation, **over}), seed=7
    ), conversations


def test_greedy_samples_with_a_shared_prefill_equal_the_single_answer(backend_and_prompts):
    make, conversations = backend_and_prompts
    assert len({len(c[0]["content"]) for c in conversations}) > 1  # padded batches
    backend = make()
    single = backend.generate(conversations, n=1)
    shared = backend.generate(conversations, n=3)
    assert [len(s) for s in shared] == [3] * len(conversations)
    assert [[one[0]] * 3 for one in single] == shared


def test_sampling_is_repeatable_and_the_samples_of_a_prompt_differ(backend_and_prompts):
    make, conversations = backend_and_prompts
    first = make(temperature=1.0, top_p=0.95).generate(conversations, n=4)
    again = make(temperature=1.0, top_p=0.95).generate(conversations, n=4)
    assert first == again
    assert sum(len({c.text for c in samples}) > 1 for samples in first) > len(conversations) // 2
