"""The tiny reward model: synthetic preference pairs made from the tiny corpus (a fluent answer in the
prompt's language beats a wrong-language, scrambled, repetitive or truncated one) and a one-label
`AutoModelForSequenceClassification` trained on them with trl's `RewardTrainer`."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import polars as pl

from expanse.models import register_cohere_sequence_classification
from expanse.tiny.corpus import chat_documents
from expanse.tiny.pretraining import set_determinism

if TYPE_CHECKING:
    from expanse.tiny.spec import TinySpec

REJECTION_KINDS = ("wrong_language", "scrambled", "repetitive", "too_short")


def _reject(kind: str, chosen: str, other_lang_text: str, rng: random.Random) -> str:
    if kind == "wrong_language":
        return other_lang_text
    spaced = " " in chosen.strip()
    units = chosen.split() if spaced else list(chosen)
    if kind == "scrambled":
        rng.shuffle(units)
        return (" " if spaced else "").join(units)
    if kind == "repetitive":
        head = (" " if spaced else "").join(units[: max(2, len(units) // 6)])
        return " ".join([head] * 6)
    return (" " if spaced else "").join(units[:2])


def synthetic_preference_pairs(
    corpus: pl.DataFrame, codes: list[str], split: str, n_per_language: int, seed: int
) -> list[dict]:
    """Preference pairs a reward model can learn: a fluent answer in the prompt's language beats a
    wrong-language, scrambled, repetitive or truncated one (kinds rotate evenly)."""
    rows = []
    docs = {c: chat_documents(corpus, c, split, seed + 1) for c in codes}
    for code in codes:
        rng = random.Random(f"{seed}:pref:{code}:{split}")
        others = [c for c in codes if c != code]
        for i, doc in enumerate(docs[code][:n_per_language]):
            kind = REJECTION_KINDS[i % len(REJECTION_KINDS)]
            if kind == "wrong_language" and not others:
                kind = "scrambled"
            other = ""
            if kind == "wrong_language":
                o = rng.choice(others)
                other = docs[o][rng.randrange(len(docs[o]))][1]["content"]
            chosen = doc[1]["content"]
            rows.append(
                {
                    "lang": code,
                    "kind": kind,
                    "prompt": doc[0]["content"],
                    "chosen": chosen,
                    "rejected": _reject(kind, chosen, other, rng),
                }
            )
    return rows


def train_reward_model(
    spec: TinySpec,
    *,
    corpus_path: str,
    init_dir: str,
    out_dir: str,
    codes: list[str],
    pairs_per_language: int,
    seed: int,
    threads: int,
) -> dict:
    import tempfile

    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from expanse.checkpoint import save_checkpoint

    set_determinism(seed, threads)
    torch.use_deterministic_algorithms(False)  # RewardTrainer's gather ops; CPU results stay repeatable
    register_cohere_sequence_classification()
    tokenizer = AutoTokenizer.from_pretrained(init_dir)
    rows = synthetic_preference_pairs(pl.read_parquet(corpus_path), codes, "train", pairs_per_language, seed)
    data = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": r["prompt"]}],
                "chosen": [{"role": "assistant", "content": r["chosen"]}],
                "rejected": [{"role": "assistant", "content": r["rejected"]}],
            }
            for r in rows
        ]
    )
    model = AutoModelForSequenceClassification.from_pretrained(
        init_dir, num_labels=1, use_safetensors=True, dtype=torch.float32
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    with tempfile.TemporaryDirectory() as work:
        args = RewardConfig(
            output_dir=work,
            max_steps=spec.steps,
            per_device_train_batch_size=spec.batch_size,
            learning_rate=spec.lr,
            lr_scheduler_type="cosine",
            warmup_steps=max(1, spec.steps // 10),
            logging_steps=10,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            bf16=False,
            gradient_checkpointing=False,
            seed=seed,
            data_seed=seed,
            max_length=256,
            disable_tqdm=True,
            dataloader_num_workers=0,
            center_rewards_coefficient=0.01,
        )
        trainer = RewardTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
        trainer.train()
        history = [h for h in trainer.state.log_history if "loss" in h]
    metrics = {
        "train_loss": [round(h["loss"], 4) for h in history],
        "train_accuracy": [round(h.get("accuracy", float("nan")), 4) for h in history],
        "n_pairs": len(rows),
    }
    save_checkpoint(
        out_dir,
        trainer.model,
        tokenizer,
        title="expanse tiny reward model",
        made_by={"spec": spec.model_dump(), "init": init_dir, "languages": codes, "seed": seed},
        metrics=metrics,
    )
    return metrics
