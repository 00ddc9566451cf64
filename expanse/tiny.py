"""The tiny scale: corpus, tokenizer and models built here, with no hub.

- corpus: natural text read at build time from the gettext catalogs Django ships (English source
  strings and their translations), cleaned, deduplicated, split train/heldout by a seeded hash.
- tokenizer: byte-level BPE (`tokenizers`) with Aya's Cohere chat template (trl's copy).
- models: `CohereForCausalLM` with `use_qk_norm=False` as Aya Expanse ships; a base pretrained on
  every language; teachers continued from the base on their own language mixture, so each is
  really better on its languages; a reward model (`AutoModelForSequenceClassification`, 1 label)
  trained with trl's `RewardTrainer` on preferences it can learn.
"""

from __future__ import annotations

import gettext
import hashlib
import math
import random
import re
import unicodedata
from pathlib import Path

import polars as pl

from expanse.io import atomic_path, write_json, write_parquet
from expanse.languages import LANGUAGES

SPECIAL_TOKENS = {
    "bos_token": "<BOS_TOKEN>",
    "eos_token": "<|END_OF_TURN_TOKEN|>",
    "pad_token": "<PAD>",
    "unk_token": "<UNK>",
}
CHAT_TOKENS = ["<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>", "<|CHATBOT_TOKEN|>", "<|SYSTEM_TOKEN|>"]

_PLACEHOLDER = re.compile(r"%\([^)]*\)[sdifr]|%[sdifr]|\{[^}]*\}|<[^>]+>|&[a-z]+;")
_SPACES = re.compile(r"\s+")


# --------------------------------------------------------------------------------------- corpus
def _clean(text: str) -> str:
    return _SPACES.sub(" ", _PLACEHOLDER.sub(" ", text)).strip(" .:;,-")


def _usable(text: str) -> bool:
    """Long enough and mostly letters (combining marks count: Devanagari vowel signs are marks)."""
    letters = sum(unicodedata.category(ch)[0] in "LM" for ch in text)
    min_chars = 8 if " " in text else 4  # Chinese/Japanese carry more per character
    return len(text) >= min_chars and letters >= 0.6 * len(text)


def _split_of(text: str, lang: str, seed: int, heldout_fraction: float) -> str:
    h = int.from_bytes(hashlib.sha256(f"{seed}:{lang}:{text}".encode()).digest()[:8], "big")
    return "heldout" if h / 2**64 < heldout_fraction else "train"


def catalog_sentences(code: str) -> list[str]:
    """Cleaned, deduplicated, sorted sentences of one language from Django's gettext catalogs."""
    import django

    root = Path(django.__file__).parent
    texts: set[str] = set()
    locale = "fr" if code == "en" else LANGUAGES[code].django  # English: the catalogs' source strings
    for mo in sorted(root.glob(f"**/locale/{locale}/LC_MESSAGES/*.mo")):
        with open(mo, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog
        for key, value in catalog.items():
            if not isinstance(key, str) or not key:
                continue  # plural entries have tuple keys; the header has an empty key
            text = _clean(key if code == "en" else value)
            if _usable(text) and (code == "en" or value != key):
                texts.add(text)
    return sorted(texts)


def build_corpus(codes: list[str], out_path: str, *, seed: int, heldout_fraction: float) -> pl.DataFrame:
    rows = []
    for code in codes:
        sentences = catalog_sentences(code)
        if len(sentences) < 100:
            raise RuntimeError(f"only {len(sentences)} sentences for {code} in Django's catalogs")
        rows += [{"lang": code, "text": s, "split": _split_of(s, code, seed, heldout_fraction)} for s in sentences]
    df = pl.DataFrame(rows, schema={"lang": pl.String, "text": pl.String, "split": pl.String})
    write_parquet(df, out_path)
    return df


def chat_documents(df: pl.DataFrame, lang: str, split: str, seed: int) -> list[list[dict]]:
    """Conversations in one language: a user turn of one sentence, an answer of 1-3 others."""
    sentences = df.filter((pl.col("lang") == lang) & (pl.col("split") == split))["text"].to_list()
    rng = random.Random(f"{seed}:{lang}:{split}")
    docs = []
    for i, user in enumerate(sentences):
        k = rng.randint(1, 3)
        others = [sentences[(i + 1 + rng.randrange(len(sentences) - 1)) % len(sentences)] for _ in range(k)]
        docs.append([{"role": "user", "content": user}, {"role": "assistant", "content": ". ".join(others) + "."}])
    return docs


# ------------------------------------------------------------------------------------ tokenizer
def cohere_chat_template() -> str:
    """Aya Expanse's chat template, as trl ships it (trl recognises it for assistant-only loss)."""
    from trl.chat_template_utils import cohere_chat_template as template

    return template


def train_tokenizer(corpus_path: str, out_dir: str, *, vocab_size: int, min_frequency: int) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = pl.read_parquet(corpus_path)["text"].to_list()
    tok = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[
            SPECIAL_TOKENS["pad_token"],
            SPECIAL_TOKENS["unk_token"],
            SPECIAL_TOKENS["bos_token"],
            SPECIAL_TOKENS["eos_token"],
            *CHAT_TOKENS,
        ],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL_TOKENS, additional_special_tokens=CHAT_TOKENS)
    fast.chat_template = cohere_chat_template()
    fast.padding_side = "left"  # generation pads left; trainers set their own side
    with atomic_path(out_dir, directory=True) as tmp:
        fast.save_pretrained(tmp)


# ---------------------------------------------------------------------------------------- models
def set_determinism(seed: int, threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    random.seed(seed)


def cohere_config(spec: dict, tokenizer):
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
    spec: dict,
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
    focus = spec.get("languages") or codes
    weights = {c: (1.0 if c in focus else spec.get("other_weight", 0.05)) for c in codes}
    weights = {c: w for c, w in weights.items() if w > 0}
    blocks = language_blocks(tokenizer, corpus, list(weights), "train", spec["seq_len"], seed)
    if init_dir:
        model = AutoModelForCausalLM.from_pretrained(init_dir, use_safetensors=True, dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_config(cohere_config(spec, tokenizer), dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=spec["lr"], weight_decay=0.01, betas=(0.9, 0.95))
    steps, warmup = spec["steps"], max(1, spec["steps"] // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    rng = random.Random(f"{seed}:{name}")
    langs, probs = list(weights), list(weights.values())
    losses = []
    for step in range(steps):
        batch = []
        for lang in rng.choices(langs, probs, k=spec["batch_size"]):
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
        made_by={"spec": spec, "init": init_dir, "languages": codes, "seed": seed},
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
    write_json(out, out_path)
    return out


# ---------------------------------------------------------------------------------- reward model
def register_cohere_sequence_classification() -> None:
    """transformers 5 has no CohereForSequenceClassification: build the generic one and register
    it with the Auto classes (unregistered, AutoModelForSequenceClassification silently skips it)."""
    from transformers import AutoModelForSequenceClassification, CohereConfig
    from transformers.modeling_layers import GenericForSequenceClassification
    from transformers.models.cohere.modeling_cohere import CoherePreTrainedModel

    class CohereForSequenceClassification(GenericForSequenceClassification, CoherePreTrainedModel):
        pass

    AutoModelForSequenceClassification.register(CohereConfig, CohereForSequenceClassification, exist_ok=True)


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


def preference_rows(corpus: pl.DataFrame, codes: list[str], split: str, n_per_language: int, seed: int) -> list[dict]:
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
    spec: dict,
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
    rows = preference_rows(pl.read_parquet(corpus_path), codes, "train", pairs_per_language, seed)
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
            max_steps=spec["steps"],
            per_device_train_batch_size=spec["batch_size"],
            learning_rate=spec["lr"],
            lr_scheduler_type="cosine",
            warmup_steps=max(1, spec["steps"] // 10),
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
        made_by={"spec": spec, "init": init_dir, "languages": codes, "seed": seed},
        metrics=metrics,
    )
    return metrics
