"""The tiny tokenizer: byte-level BPE (`tokenizers`) trained on the tiny corpus, with Aya's Cohere
special tokens and chat template (trl's copy)."""

from __future__ import annotations

import polars as pl

from expanse.io import atomic_path

SPECIAL_TOKENS = {
    "bos_token": "<BOS_TOKEN>",
    "eos_token": "<|END_OF_TURN_TOKEN|>",
    "pad_token": "<PAD>",
    "unk_token": "<UNK>",
}
CHAT_TOKENS = ["<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>", "<|CHATBOT_TOKEN|>", "<|SYSTEM_TOKEN|>"]


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
