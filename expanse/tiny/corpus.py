"""The tiny corpus: natural text read at build time from the gettext catalogs Django ships (English
source strings and their translations), cleaned, deduplicated, split train/heldout by a seeded
hash; `chat_documents` turns one language's split into conversations."""

from __future__ import annotations

import gettext
import hashlib
import random
import re
import unicodedata
from pathlib import Path

import polars as pl

from expanse.io import write_parquet
from expanse.languages import LANGUAGES

_PLACEHOLDER = re.compile(r"%\([^)]*\)[sdifr]|%[sdifr]|\{[^}]*\}|<[^>]+>|&[a-z]+;")
_SPACES = re.compile(r"\s+")


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
