"""vLLM generation (GPU only, optional extra `expanse[gpu]`): a thin adapter over vLLM's documented
`LLM(...)`, `SamplingParams(...)` and `LLM.chat(...)`. Tensor parallelism comes from the rule's GPU
count. The mapping from our config to vLLM's arguments and back is ours and is unit-tested."""

from __future__ import annotations

from typing import TYPE_CHECKING

from expanse.errors import ConfigError
from expanse.generation import Completion

if TYPE_CHECKING:
    from expanse.generation.config import GenerationCfg

DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16", "auto": "auto"}


def engine_kwargs(model: str, *, load: dict, generation: GenerationCfg, seed: int, gpus: int) -> dict:
    if gpus < 1:
        raise ConfigError("the vllm backend needs at least one GPU (resources.generate.gpu)")
    # load_format "safetensors" always: vLLM's default ("auto") falls back to pickled .bin weights,
    # which can run code when loaded; a model without safetensors weights fails instead.
    kwargs = {
        "model": model,
        "tensor_parallel_size": gpus,
        "dtype": DTYPES[generation.dtype],
        "seed": seed,
        "trust_remote_code": load.get("trust_remote_code", False) is True,
        "load_format": "safetensors",
    }
    if load.get("revision"):
        kwargs["revision"] = load["revision"]
    return kwargs


def sampling_kwargs(generation: GenerationCfg, n: int, seed: int) -> dict:
    return {
        "n": n,
        "temperature": generation.temperature,
        "top_p": generation.top_p,
        "max_tokens": generation.max_new_tokens,
        "min_tokens": generation.min_new_tokens,
        "repetition_penalty": generation.repetition_penalty,
        "seed": seed,
    }


def completions(request_outputs) -> list[list[Completion]]:
    """vLLM RequestOutputs (one per conversation, in order) -> our Completions. vLLM's finish
    reasons are "stop" and "length" as ours; anything else (e.g. "abort") is kept as it is."""
    result = []
    for req in request_outputs:
        result.append([Completion(c.text.strip(), len(c.token_ids), str(c.finish_reason)) for c in req.outputs])
    return result


class Backend:
    def __init__(self, model: str, *, load: dict, generation: GenerationCfg, seed: int, gpus: int = 1):
        from vllm import LLM  # imported only here: GPU-only optional dependency

        self.generation, self.seed = generation, seed
        self.llm = LLM(**engine_kwargs(model, load=load, generation=generation, seed=seed, gpus=gpus))

    def generate(self, conversations: list[list[dict]], n: int = 1) -> list[list[Completion]]:
        from vllm import SamplingParams

        params = SamplingParams(**sampling_kwargs(self.generation, n, self.seed))
        return completions(self.llm.chat(conversations, sampling_params=params, use_tqdm=False))
