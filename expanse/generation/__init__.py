"""Registry of generation backends: name -> module. A backend is imported only when used (vLLM is
a GPU-only optional extra), so naming an unknown backend fails before any heavy import."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

BACKENDS = {
    "transformers": "expanse.generation.transformers_backend",
    "vllm": "expanse.generation.vllm_backend",
}


@dataclass(frozen=True)
class Completion:
    text: str
    n_tokens: int
    finish_reason: str  # "stop" (end of turn) | "length" (max_new_tokens reached)


def get_backend(name: str):
    """The backend class registered under `name`; every backend has
    `Backend(model, *, load, generation, seed, gpus)` and `.generate(conversations, n) -> [[Completion]]`."""
    if name not in BACKENDS:
        raise KeyError(f"unknown generation backend {name!r} (known: {', '.join(BACKENDS)})")
    return importlib.import_module(BACKENDS[name]).Backend


def run_generation(prompts_path: str, out_path: str, *, lang: str, model_name: str, location: str, load: dict,
                   generation: dict, samples: int, seed: int, gpus: int = 0,
                   splits: tuple[str, ...] = ("train", "dev")) -> None:
    """Generate `samples` completions for every prompt of `splits` and write the generations contract."""
    import polars as pl

    from expanse.io import read_parquet, write_parquet

    prompts = read_parquet(prompts_path, "prompts").filter(pl.col("split").is_in(list(splits)))
    backend = get_backend(generation["backend"])(location, load=load, generation=generation, seed=seed, gpus=gpus)
    conversations = [[{"role": "user", "content": p}] for p in prompts["prompt"]]
    outputs = backend.generate(conversations, n=samples)
    rows = [{"prompt_id": pid, "lang": lang, "model": model_name, "sample": k, "completion": c.text,
             "n_tokens": c.n_tokens, "finish_reason": c.finish_reason}
            for pid, outs in zip(prompts["id"], outputs) for k, c in enumerate(outs)]
    write_parquet(pl.DataFrame(rows, infer_schema_length=None), out_path, contract="generations")
