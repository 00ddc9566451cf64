"""Atomic artifact I/O and the data contracts: the parquet schemas every phase reads and writes
(SCHEMAS) and the JSON artifacts' contracts (expanse.contracts), checked on write and on read.

Every artifact is written to a temporary sibling and renamed into place, so a killed job never
leaves a file (or checkpoint directory) that looks finished.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from expanse import contracts
from expanse.errors import DataError

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "prompts": {"id": pl.String, "lang": pl.String, "prompt": pl.String, "split": pl.String},
    "generations": {
        "prompt_id": pl.String,
        "lang": pl.String,
        "model": pl.String,
        "sample": pl.Int32,
        "completion": pl.String,
        "n_tokens": pl.Int32,
        "finish_reason": pl.String,
    },
    "arbitrage": {
        "prompt_id": pl.String,
        "lang": pl.String,
        "prompt": pl.String,
        "completion": pl.String,
        "teacher": pl.String,
        "score": pl.Float64,
        "margin": pl.Float64,
    },
    "pairs": {
        "prompt_id": pl.String,
        "lang": pl.String,
        "prompt": pl.String,
        "chosen": pl.String,
        "rejected": pl.String,
        "chosen_score": pl.Float64,
        "rejected_score": pl.Float64,
        "origin": pl.String,
    },
}
SCHEMAS["scores"] = {
    **SCHEMAS["generations"],
    "reward": pl.Float64,
    "lang_prob": pl.Float64,
    "lang_ok": pl.Boolean,
    "score": pl.Float64,
}


def _fresh_sibling(path: Path, directory: bool) -> Path:
    """Create an empty file (or directory) with a new random name beside `path`.

    Created by os.open/os.mkdir with mode 0o666/0o777 so the kernel applies the umask (and any
    default ACL of the directory) as for any other file: tempfile.mkstemp/mkdtemp would make every
    artifact 0600/0700 whatever the umask, unreadable to the rest of a team sharing the filesystem
    or the DVC cache. No umask is read or changed, so this is safe with threads.
    """
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            if directory:
                os.mkdir(tmp, 0o777)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{path.parent}: no free temporary name for {path.name}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The result has the modes any new file gets: 0o666 / 0o777 less the umask.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh_sibling(path, directory)
    try:
        yield tmp
        if directory and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def conform(df: pl.DataFrame, contract: str) -> pl.DataFrame:
    """Select and cast the contract's columns, in order; a missing column is an error."""
    schema = SCHEMAS[contract]
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise DataError(f"{contract} rows lack column(s) {', '.join(missing)}")
    return df.select([pl.col(c).cast(t) for c, t in schema.items()])


def write_parquet(df: pl.DataFrame, path: str | os.PathLike, contract: str | None = None) -> None:
    """Write a table atomically (zstd), conformed to its contract first when one is named."""
    if contract is not None:
        df = conform(df, contract)
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, compression="zstd", statistics=False)


def read_parquet(path: str | os.PathLike, contract: str | None = None) -> pl.DataFrame:
    """Read a table, conformed to its contract when one is named (DataError naming the file if it is not)."""
    df = pl.read_parquet(path)
    if contract is not None:
        try:
            df = conform(df, contract)
        except DataError as e:
            raise DataError(f"{path}: {e}") from None
    return df


def write_json(obj, path: str | os.PathLike, contract: str | None = None) -> None:
    """Write obj as sorted, indented JSON; with a contract (expanse.contracts.JSON_SCHEMAS) it is
    checked first, so an artifact that breaks it is never written."""
    if contract is not None:
        contracts.check(obj, contract, path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike, contract: str | None = None):
    """The JSON object in path, checked against its contract; bad JSON or a broken contract is a
    DataError naming the file."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not JSON ({e})") from None
    if contract is not None:
        contracts.check(obj, contract, path)
    return obj


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write a UTF-8 text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's contents, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; a bad line is a DataError at file:line.

    Read as bytes and decoded line by line, so a byte that is not UTF-8 is reported at its line. A
    UTF-8 byte order mark is skipped at the start of the file (and only there).
    """
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                bad = " ".join(f"0x{b:02x}" for b in raw[e.start : e.end])
                raise DataError(
                    f"{path}:{lineno}: invalid UTF-8 ({e.reason}: byte{'s' * (e.end - e.start > 1)} "
                    f"{bad} at byte {e.start + 1} of the line)"
                ) from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj
