"""Registry of generation backends. A backend is imported only when used (vLLM is a GPU-only
optional extra), so naming an unknown backend fails before any heavy import.

The contract of a backend (`GenerationBackend`): a class constructed as
`Backend(model, *, load, generation, seed, gpus=0)`, where `model` is a checkpoint location, `load`
its from_pretrained keywords, `generation` the scale's validated GenerationCfg; its
`generate(conversations, n)` returns, for every conversation (a list of chat messages), `n`
`Completion`s in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from expanse.registry import Registry

if TYPE_CHECKING:
    from expanse.generation.config import GenerationCfg
    from expanse.schema import ModelSource


@dataclass(frozen=True)
class Completion:
    text: str
    n_tokens: int
    finish_reason: str  # "stop" (end of turn) | "length" (max_new_tokens reached)


class GenerationBackend(Protocol):
    def __init__(self, model: str, *, load: dict, generation: GenerationCfg, seed: int, gpus: int = 0) -> None: ...

    def generate(self, conversations: list[list[dict]], n: int = 1) -> list[list[Completion]]: ...


BACKENDS = Registry(
    "generation backend",
    {
        "transformers": "expanse.generation.transformers_backend:Backend",
        "vllm": "expanse.generation.vllm_backend:Backend",
    },
    requires=("generate",),
    contract="Backend(model, *, load, generation, seed, gpus=0).generate(conversations, n) -> [[Completion]]",
)


def get_backend(name: str) -> type[GenerationBackend]:
    """The backend class registered under `name` (see `GenerationBackend`); UnknownNameError otherwise."""
    return BACKENDS.get(name)


def run_generation(
    prompts_path: str,
    out_path: str,
    *,
    lang: str,
    model_name: str,
    location: str,
    load: dict,
    generation: GenerationCfg,
    samples: int,
    seed: int,
    gpus: int = 0,
    splits: tuple[str, ...] = ("train", "dev"),
    ids: list[str] | None = None,
) -> None:
    """Generate `samples` completions for every prompt of `splits` (only those in `ids` if given)
    and write the generations contract."""
    from expanse.io import write_parquet

    rows = generate_rows(
        _prompts(prompts_path, splits, ids),
        lang=lang,
        model_name=model_name,
        location=location,
        load=load,
        generation=generation,
        samples=samples,
        seed=seed,
        gpus=gpus,
    )
    write_parquet(_frame(rows), out_path, contract="generations")


def run_routed_generation(
    prompts_path: str,
    out_path: str,
    *,
    lang: str,
    teachers: dict[str, ModelSource],
    ids: list[str],
    generation: GenerationCfg,
    seed: int,
    gpus: int = 0,
) -> None:
    """Each of `teachers` (name -> resolved reference, loaded one after the other) answers the prompts
    `ids`; one generations file."""
    from expanse.io import write_parquet

    prompts = _prompts(prompts_path, ("train", "dev"), ids)
    rows = []
    for name, ref in teachers.items():
        if prompts.height:
            rows += generate_rows(
                prompts,
                lang=lang,
                model_name=name,
                location=ref.location,
                load=ref.load,
                generation=generation,
                samples=1,
                seed=seed,
                gpus=gpus,
            )
    write_parquet(_frame(rows), out_path, contract="generations")


def _prompts(prompts_path: str, splits, ids):
    import polars as pl

    from expanse.errors import DataError
    from expanse.io import read_parquet

    prompts = read_parquet(prompts_path, "prompts").filter(pl.col("split").is_in(list(splits)))
    if ids is not None:
        missing = set(ids) - set(prompts["id"].to_list())
        if missing:
            raise DataError(f"{prompts_path}: no prompts {sorted(missing)[:3]} in splits {', '.join(splits)}")
        prompts = prompts.filter(pl.col("id").is_in(list(ids)))
    return prompts


def _frame(rows: list[dict]):
    import polars as pl

    from expanse.io import SCHEMAS

    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame(schema=SCHEMAS["generations"])


def generate_rows(
    prompts,
    *,
    lang: str,
    model_name: str,
    location: str,
    load: dict,
    generation: GenerationCfg,
    samples: int,
    seed: int,
    gpus: int = 0,
) -> list[dict]:
    backend = get_backend(generation.backend)(location, load=load, generation=generation, seed=seed, gpus=gpus)
    conversations = [[{"role": "user", "content": p}] for p in prompts["prompt"]]
    outputs = backend.generate(conversations, n=samples)
    return [
        {
            "prompt_id": pid,
            "lang": lang,
            "model": model_name,
            "sample": k,
            "completion": c.text,
            "n_tokens": c.n_tokens,
            "finish_reason": c.finish_reason,
        }
        for pid, outs in zip(prompts["id"], outputs)
        for k, c in enumerate(outs)
    ]
