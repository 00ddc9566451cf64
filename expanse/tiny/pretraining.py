"""Tiny causal LMs: `CohereForCausalLM` with `use_qk_norm=False` as Aya Expanse ships, pretrained on
packed chat documents of the tiny corpus (a base on every language; teachers continued from the
base on their own language mixture), and their mean loss on held-out conversations."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING

import polars as pl

from expanse.io import write_json
from expanse.tiny.corpus import chat_documents

if TYPE_CHECKING:
    from expanse.tiny.spec import TinySpec


def set_determinism(seed: int, threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    random.seed(seed)


def cohere_config(spec: Mapping, tokenizer):
    """The architecture of a tiny spec (its hidden, ffn, layers, heads, kv_heads keys) for `tokenizer`."""
    from transformers import CohereConfig

    return CohereConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec["hidden"],
        intermediate_size=spec["ffn"],
        num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"],
        num_key_value_heads=spec["kv_heads"],
        max_position_embeddings=2048,
        use_qk_norm=False,  # as Aya Expanse ships
        tie_word_embeddings=True,
        logit_scale=1.0,  # Aya uses 0.0625-0.125 at 8B/32B; a 128-wide model learns far faster at 1.0
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _blocks(tokenizer, docs: list[list[dict]], seq_len: int) -> list[list[int]]:
    """Pack tokenized conversations into blocks of seq_len tokens (no padding)."""
    stream: list[int] = []
    for doc in docs:
        stream += tokenizer.apply_chat_template(doc, tokenize=True, return_dict=False)
    return [stream[i : i + seq_len] for i in range(0, len(stream) - seq_len + 1, seq_len)]


def language_blocks(tokenizer, corpus: pl.DataFrame, codes: list[str], split: str, seq_len: int, seed: int):
    return {code: _blocks(tokenizer, chat_documents(corpus, code, split, seed), seq_len) for code in codes}


def pretrain(
    spec: TinySpec,
    *,
    corpus_path: str,
    tokenizer_dir: str,
    out_dir: str,
    init_dir: str | None,
    codes: list[str],
    seed: int,
    threads: int,
    name: str,
) -> dict:
    """Causal-LM pretraining on packed chat documents, sampling languages by the spec's mixture."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from expanse.checkpoint import save_checkpoint

    set_determinism(seed, threads)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    corpus = pl.read_parquet(corpus_path)
    focus = spec.languages or codes
    weights = {c: (1.0 if c in focus else spec.other_weight) for c in codes}
    weights = {c: w for c, w in weights.items() if w > 0}
    blocks = language_blocks(tokenizer, corpus, list(weights), "train", spec.seq_len, seed)
    if init_dir:
        model = AutoModelForCausalLM.from_pretrained(init_dir, use_safetensors=True, dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_config(cohere_config(spec.model_dump(), tokenizer), dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.01, betas=(0.9, 0.95))
    steps, warmup = spec.steps, max(1, spec.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    rng = random.Random(f"{seed}:{name}")
    langs, probs = list(weights), list(weights.values())
    losses = []
    for step in range(steps):
        batch = []
        for lang in rng.choices(langs, probs, k=spec.batch_size):
            batch.append(blocks[lang][rng.randrange(len(blocks[lang]))])
        ids = torch.tensor(batch)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
        if step % 25 == 0 or step == steps - 1:
            print(f"[{name}] step {step + 1}/{steps} loss {loss.item():.4f}", flush=True)
    metrics = {"train_loss": losses, "final_loss": losses[-1], "mixture": weights}
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    save_checkpoint(
        out_dir,
        model,
        tokenizer,
        title=f"expanse tiny model: {name}",
        made_by={"spec": spec.model_dump(), "init": init_dir, "languages": codes, "seed": seed},
        metrics=metrics,
    )
    return metrics


def heldout_loss(
    model_dirs: dict[str, str],
    *,
    corpus_path: str,
    tokenizer_dir: str,
    codes: list[str],
    seq_len: int,
    seed: int,
    out_path: str,
) -> dict:
    """Mean token loss of each model on each language's held-out conversations."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    set_determinism(seed, 1)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    blocks = language_blocks(tokenizer, pl.read_parquet(corpus_path), codes, "heldout", seq_len, seed)
    result: dict[str, dict[str, float]] = {}
    for name, path in model_dirs.items():
        model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, dtype=torch.float32).eval()
        result[name] = {}
        for code in codes:
            with torch.no_grad():
                ids = torch.tensor(blocks[code])
                result[name][code] = round(float(model(input_ids=ids, labels=ids).loss), 4)
    best = {code: min(result, key=lambda n: result[n][code]) for code in codes}
    out = {"loss": result, "best": best}
    write_json(out, out_path, contract="teacher_heldout_loss")
    return out
