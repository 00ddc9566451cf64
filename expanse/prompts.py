"""Prompt files: validation (file:line and the reason), deduplication and the train/dev/test split.

A prompt file is JSON Lines, one object per line with `id`, `prompt` and optionally `task`. The
language's training file gives the train and dev splits (dev by a seeded hash of the id); its
held-out eval file gives the test split. A training prompt that repeats a test prompt is dropped
(no eval contamination); an exact repeat within a file is dropped with a warning.

The test split is also prepared on its own (`prepare_eval_prompts`, from the eval file alone): the
eval answers and judges read that, so an edit to a language's training prompts leaves every model
but the ones it retrains unasked.
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata

import polars as pl

from expanse.errors import DataError
from expanse.io import read_jsonl, write_parquet
from expanse.languages import LANGUAGES, detector, lingua_language

REQUIRED = ("id", "prompt")
OPTIONAL = ("task",)
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # fullmatch: `$` would let "x\n" in
MIN_LANG_CONFIDENCE = 0.5  # lingua's confidence that the text is in the declared language
MAX_PROMPT_CHARS = 32768  # default of the scale's prompts.max_prompt_chars (PromptsCfg)
# C0 controls but tab, newline and carriage return; DEL; C1 controls; lone surrogates (a JSON
# \ud800 escape decodes to one, and no UTF-8 writer can store it)
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _check_text(where: str, key: str, value) -> None:
    if not isinstance(value, str):
        raise DataError(f"{where}: field {key!r} must be a string, got {_json_type(value)}")
    bad = FORBIDDEN.search(value)
    if bad:
        char = bad.group()
        if unicodedata.category(char) == "Cs":
            what, why = "lone surrogate", "a \\u escape without its pair; not a character"
        else:
            what, why = "control character", "tab, newline and carriage return are the only ones allowed"
        raise DataError(
            f"{where}: field {key!r} contains the {what} U+{ord(char):04X} at character {bad.start() + 1} ({why})"
        )


def _json_type(value) -> str:
    names = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def read_prompt_file(
    path: str, lang: str, *, check_language: bool = True, max_chars: int = MAX_PROMPT_CHARS
) -> list[dict]:
    """Validated rows of one prompt file; the first problem is a DataError naming file:line.

    `max_chars` caps the length of a prompt (after stripping surrounding whitespace).
    """
    if lang not in LANGUAGES:
        raise DataError(f"{path}: unknown language code {lang!r}")
    rows, seen_ids = [], {}
    target = lingua_language(lang) if check_language else None
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        for key in REQUIRED:
            if key not in obj:
                raise DataError(f"{where}: missing field {key!r}")
        unknown = set(obj) - set(REQUIRED) - set(OPTIONAL)
        if unknown:
            raise DataError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        pid, text = obj["id"], obj["prompt"]
        if not isinstance(pid, str) or not ID_PATTERN.fullmatch(pid):
            raise DataError(f"{where}: id must be a non-empty string of letters, digits, '_', '.', '-' (got {pid!r})")
        _check_text(where, "prompt", text)
        if not text.strip():
            raise DataError(f"{where}: empty prompt")
        if len(text.strip()) > max_chars:
            raise DataError(
                f"{where}: prompt is {len(text.strip())} characters, over the limit of {max_chars} "
                f"(params.yaml: scales.<scale>.prompts.max_prompt_chars)"
            )
        if obj.get("task") is not None:
            _check_text(where, "task", obj["task"])
        if pid in seen_ids:
            raise DataError(f"{where}: duplicate id {pid!r} (first on line {seen_ids[pid]})")
        seen_ids[pid] = lineno
        if target is not None:
            confidence = detector().compute_language_confidence(text, target)
            if confidence < MIN_LANG_CONFIDENCE:
                found = detector().detect_language_of(text)
                name = found.name.title() if found else "unknown"
                raise DataError(
                    f"{where}: text is mostly not {LANGUAGES[lang].name} "
                    f"(confidence {confidence:.2f}; looks like {name})"
                )
        rows.append({"id": pid, "lang": lang, "prompt": text.strip(), "task": obj.get("task"), "line": lineno})
    if not rows:
        raise DataError(f"{path}: no prompts")
    return rows


def _dedupe(rows: list[dict], path: str) -> list[dict]:
    out, seen = [], {}
    for row in rows:
        key = _normalise(row["prompt"])
        if key in seen:
            print(f"{path}:{row['line']}: duplicate of line {seen[key]}, dropped", file=sys.stderr)
            continue
        seen[key] = row["line"]
        out.append(row)
    return out


def _is_dev(pid: str, seed: int, dev_fraction: float) -> bool:
    h = int.from_bytes(hashlib.sha256(f"{seed}:{pid}".encode()).digest()[:8], "big")
    return h / 2**64 < dev_fraction


def prepare_prompts(
    prompts_path: str,
    eval_path: str,
    lang: str,
    out_path: str,
    *,
    seed: int,
    dev_fraction: float,
    max_train: int | None = None,
    max_chars: int = MAX_PROMPT_CHARS,
) -> pl.DataFrame:
    """Validate a language's training and held-out prompt files and split them train/dev/test: written and returned."""
    train = _dedupe(read_prompt_file(prompts_path, lang, max_chars=max_chars), prompts_path)
    test = _dedupe(read_prompt_file(eval_path, lang, max_chars=max_chars), eval_path)
    test_keys = {_normalise(r["prompt"]) for r in test}
    clash = {r["id"] for r in train} & {r["id"] for r in test}
    if clash:
        raise DataError(f"{eval_path}: id {sorted(clash)[0]!r} is also used in {prompts_path}")
    rows = []
    for row in train:
        if _normalise(row["prompt"]) in test_keys:
            print(f"{prompts_path}:{row['line']}: also a held-out eval prompt, dropped from training", file=sys.stderr)
            continue
        rows.append({**row, "split": "dev" if _is_dev(row["id"], seed, dev_fraction) else "train"})
    if max_train is not None:
        kept, n = [], 0
        for row in rows:
            if row["split"] == "train":
                n += 1
                if n > max_train:
                    continue
            kept.append(row)
        rows = kept
    rows += _test_rows(test)
    if not any(r["split"] == "train" for r in rows):
        raise DataError(f"{prompts_path}: no training prompts left after the dev split")
    return _write(rows, out_path)


def prepare_eval_prompts(
    eval_path: str, lang: str, out_path: str, *, max_chars: int = MAX_PROMPT_CHARS
) -> pl.DataFrame:
    """Validate a language's held-out prompt file: its test split (the rows `prepare_prompts` gives
    the split, in the same order), written and returned."""
    return _write(_test_rows(_dedupe(read_prompt_file(eval_path, lang, max_chars=max_chars), eval_path)), out_path)


def _test_rows(test: list[dict]) -> list[dict]:
    return [{**row, "split": "test"} for row in test]


def _write(rows: list[dict], out_path: str) -> pl.DataFrame:
    df = pl.DataFrame([{k: r[k] for k in ("id", "lang", "prompt", "split")} for r in rows])
    write_parquet(df, out_path, contract="prompts")
    return df
