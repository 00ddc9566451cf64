"""Batched generation with transformers: the tiny scale's backend, and a fallback on GPUs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from expanse.generation import Completion

if TYPE_CHECKING:
    from expanse.generation.config import GenerationCfg

DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16", "auto": "auto"}


class Backend:
    def __init__(self, model: str, *, load: dict, generation: GenerationCfg, seed: int, gpus: int = 0):
        import torch
        from transformers import AutoModelForCausalLM

        from expanse.checkpoint import load_tokenizer

        self.torch = torch
        self.cfg = generation
        self.seed = seed
        self.tokenizer = load_tokenizer(model, load, padding_side="left")
        kwargs = {"dtype": getattr(torch, DTYPES[generation.dtype]) if generation.dtype != "auto" else "auto"}
        if gpus > 1:
            kwargs["device_map"] = "auto"
        self.model = AutoModelForCausalLM.from_pretrained(model, **load, **kwargs).eval()
        if gpus == 1:
            self.model.to("cuda")
        self.end_ids = {
            i
            for i in [self.tokenizer.eos_token_id, *(_as_list(self.model.generation_config.eos_token_id))]
            if i is not None
        }

    def generate(self, conversations: list[list[dict]], n: int = 1) -> list[list[Completion]]:
        cfg, torch = self.cfg, self.torch
        results: list[list[Completion]] = []
        for start in range(0, len(conversations), cfg.batch_size):
            batch = conversations[start : start + cfg.batch_size]
            enc = self.tokenizer.apply_chat_template(
                batch, add_generation_prompt=True, padding=True, return_tensors="pt", return_dict=True
            )
            enc = {k: v.to(self.model.device) for k, v in enc.items()}
            torch.manual_seed(self.seed + start)  # sampling is repeatable per batch
            sampling = cfg.temperature > 0
            with torch.no_grad():
                inputs = self._shared_prefix(enc, n) if n > 1 else enc
                out = self.model.generate(
                    **inputs,
                    max_new_tokens=cfg.max_new_tokens,
                    min_new_tokens=cfg.min_new_tokens,
                    do_sample=sampling,
                    temperature=cfg.temperature if sampling else None,
                    top_p=cfg.top_p if sampling else None,
                    repetition_penalty=cfg.repetition_penalty,
                    no_repeat_ngram_size=cfg.no_repeat_ngram_size,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = out[:, enc["input_ids"].shape[1] :].tolist()
            for i in range(len(batch)):
                results.append([self._completion(ids) for ids in new[i * n : (i + 1) * n]])
        return results

    def _shared_prefix(self, enc: dict, n: int) -> dict:
        """Inputs for n samples of each prompt that share one prefill: the prompts (all but their
        last token) run through the model once, then the KV cache is repeated n times, so generate
        starts from it instead of encoding every prompt n times (num_return_sequences=n does that).
        Position ids follow the left padding as generate's own do."""
        from transformers import DynamicCache

        ids, mask = enc["input_ids"], enc["attention_mask"]
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
        cache = DynamicCache(config=self.model.config)
        self.model(
            input_ids=ids[:, :-1],
            attention_mask=mask[:, :-1],
            position_ids=positions[:, :-1],
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        cache.batch_repeat_interleave(n)
        return {
            "input_ids": ids.repeat_interleave(n, dim=0),
            "attention_mask": mask.repeat_interleave(n, dim=0),
            "cache": cache,
        }

    def _completion(self, ids: list[int]) -> Completion:
        for pos, tok in enumerate(ids):
            if tok in self.end_ids:
                return Completion(self.tokenizer.decode(ids[:pos], skip_special_tokens=True).strip(), pos, "stop")
        return Completion(self.tokenizer.decode(ids, skip_special_tokens=True).strip(), len(ids), "length")


def _as_list(x):
    return x if isinstance(x, list) else [x]
