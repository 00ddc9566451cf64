"""The streaming merge: tensors are read one at a time from sharded or single-file safetensors
checkpoints, merged in fp32 and written straight into sharded safetensors files whose headers are
laid out in advance from the inputs' metadata. Peak memory is a few tensors, whatever the model
size or the number of models.

Reads are positioned reads of exactly one tensor's bytes (the offsets come from the file's header),
not `safe_open`: safe_open memory-maps each file, and the mapped pages of every input stay
resident while it is open (4.6 GB RSS for three 1.5 GB inputs in benchmarks/merge.py).

Every check (tensor sets, shapes, dtypes, vocabularies, weights, method and parameters) runs
before anything is written; the output appears only when complete (temp dir + rename).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from expanse.errors import MergeError
from expanse.io import atomic_path, file_digest
from expanse.merging import get_method

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
# safetensors dtype names -> (torch dtype name, bytes per element)
DTYPES = {
    "F64": ("float64", 8),
    "F32": ("float32", 4),
    "BF16": ("bfloat16", 2),
    "F16": ("float16", 2),
    "I64": ("int64", 8),
    "I32": ("int32", 4),
    "I16": ("int16", 2),
    "I8": ("int8", 1),
    "U8": ("uint8", 1),
    "BOOL": ("bool", 1),
}
BY_TORCH_NAME = {v[0]: k for k, v in DTYPES.items()}
FLOAT = {"F64", "F32", "BF16", "F16"}
NOT_WEIGHTS = {INDEX, "README.md", "expanse_config.json", "metrics.json", "training_args.bin"}
VOCAB_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")


@dataclass
class Checkpoint:
    path: Path
    files: dict[str, Path] = field(default_factory=dict)  # tensor -> shard file
    meta: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)  # tensor -> (dtype, shape)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)  # tensor -> absolute byte range in its file


def read_header(path: Path) -> tuple[dict, int]:
    """The tensor entries of a safetensors file and where its data starts."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise MergeError(f"{path}: not a safetensors file")
        (n,) = struct.unpack("<Q", raw)
        try:
            header = json.loads(f.read(n))
        except ValueError:
            raise MergeError(f"{path}: not a safetensors file (bad header)") from None
    header.pop("__metadata__", None)
    return header, 8 + n


def open_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if (path / INDEX).is_file():
        weight_map = json.loads((path / INDEX).read_text())["weight_map"]
        shards = sorted(set(weight_map.values()))
    elif (path / SINGLE).is_file():
        shards = [SINGLE]
    else:
        raise MergeError(f"{path}: no safetensors weights ({SINGLE} or {INDEX})")
    ckpt = Checkpoint(path)
    for shard in shards:
        if not (path / shard).is_file():
            raise MergeError(f"{path}: shard {shard} named in {INDEX} is missing")
        header, start = read_header(path / shard)
        for name, info in header.items():
            if info["dtype"] not in DTYPES:
                raise MergeError(f"{path / shard}: tensor {name} has unsupported dtype {info['dtype']}")
            ckpt.files[name] = path / shard
            ckpt.meta[name] = (info["dtype"], tuple(info["shape"]))
            begin, end = info["data_offsets"]
            ckpt.spans[name] = (start + begin, start + end)
    return ckpt


def _digest(path: Path) -> str | None:
    return file_digest(path) if path.is_file() else None


def check_compatible(ckpts: list[Checkpoint]) -> list[str]:
    """The tensor names to merge (in the reference's order), or a MergeError naming the problem."""
    ref = ckpts[0]
    names = list(ref.meta)
    for c in ckpts[1:]:
        missing = [n for n in names if n not in c.meta]
        if missing:
            raise MergeError(
                f"{c.path}: tensor {missing[0]} is missing (present in {ref.path})"
                + (f", and {len(missing) - 1} more" if len(missing) > 1 else "")
            )
        extra = [n for n in c.meta if n not in ref.meta]
        if extra:
            raise MergeError(f"{c.path}: tensor {extra[0]} is not in {ref.path}")
        for n in names:
            if c.meta[n][1] != ref.meta[n][1]:
                raise MergeError(
                    f"{c.path}: tensor {n} has shape {list(c.meta[n][1])}, {ref.path} has {list(ref.meta[n][1])}"
                )
            if c.meta[n][0] != ref.meta[n][0]:
                raise MergeError(f"{c.path}: tensor {n} is {c.meta[n][0]}, {ref.path} has {ref.meta[n][0]}")
    vocab_size = _config(ref.path).get("vocab_size")
    for c in ckpts[1:]:
        other = _config(c.path).get("vocab_size")
        if other != vocab_size:
            raise MergeError(f"{c.path}: vocab_size {other} differs from {ref.path} ({vocab_size})")
    for fname in VOCAB_FILES:
        ref_digest = _digest(ref.path / fname)  # read once, not once per model
        for c in ckpts[1:]:
            if _digest(c.path / fname) != ref_digest:
                raise MergeError(
                    f"{c.path}: {fname} differs from {ref.path}'s (different vocabularies cannot be merged)"
                )
    return names


def _config(path: Path) -> dict:
    f = path / "config.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def check_weights(method: str, weights: list[float] | None, n: int) -> list[float]:
    if method == "slerp":
        if n != 2:
            raise MergeError(f"slerp merges exactly 2 models, got {n}")
        return [1.0, 1.0]
    if weights is None:
        return [1.0] * n
    if len(weights) != n:
        raise MergeError(f"{len(weights)} weights for {n} models")
    for i, w in enumerate(weights):
        if not isinstance(w, (int, float)) or not math.isfinite(w) or (method == "linear" and w <= 0):
            raise MergeError(f"weight {i + 1} is {w!r}: {method} weights must be positive numbers")
    return [float(w) for w in weights]


def method_params(method: str, params: dict | None):
    try:
        module = get_method(method)
    except KeyError as e:
        raise MergeError(e.args[0]) from None
    try:
        return module, module.Params(**(params or {}))
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
        raise MergeError(f"{method}: parameter {key}: {msg}") from None


def plan_shards(names: list[str], meta: dict, out_dtypes: dict[str, str], max_shard_bytes: int) -> list[list[str]]:
    shards, current, size = [], [], 0
    for n in names:
        nbytes = math.prod(meta[n][1]) * DTYPES[out_dtypes[n]][1]
        if current and size + nbytes > max_shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(n)
        size += nbytes
    if current or not shards:
        shards.append(current)
    return shards


def _header(names: list[str], meta: dict, out_dtypes: dict[str, str]) -> bytes:
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for n in names:
        nbytes = math.prod(meta[n][1]) * DTYPES[out_dtypes[n]][1]
        header[n] = {"dtype": out_dtypes[n], "shape": list(meta[n][1]), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw


PREFETCH_BYTES = 512 * 2**20  # inputs of the current and the next tensor held at once, at most


def merge_checkpoints(
    models: list[str],
    out_dir: str,
    *,
    method: str = "linear",
    weights: list[float] | None = None,
    params: dict | None = None,
    base: str | None = None,
    out_dtype: str | None = None,
    max_shard_bytes: int = 5 * 2**30,
    made_by: dict | None = None,
) -> dict:
    """Merge `models` (relative to `base` where the method needs one) into `out_dir`."""
    import torch

    module, p = method_params(method, params)
    if not models:
        raise MergeError("no models to merge")
    weights = check_weights(method, weights, len(models))
    if module.NEEDS_BASE and base is None:
        raise MergeError(f"{method} merges relative to a base model; none given")
    if out_dtype is not None and out_dtype not in BY_TORCH_NAME:
        raise MergeError(f"out_dtype {out_dtype!r} is not one of {', '.join(BY_TORCH_NAME)}")
    ckpts = [open_checkpoint(m) for m in models]
    base_ckpt = open_checkpoint(base) if base is not None else None
    ref = base_ckpt or ckpts[0]
    names = check_compatible([ref, *ckpts])
    out_dtypes = {
        n: (BY_TORCH_NAME[out_dtype] if out_dtype and ref.meta[n][0] in FLOAT else ref.meta[n][0]) for n in names
    }
    shards = plan_shards(names, ref.meta, out_dtypes, max_shard_bytes)
    shard_names = (
        [SINGLE]
        if len(shards) == 1
        else [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    )
    resolved = {
        "method": method,
        "params": p.model_dump(by_alias=True),
        "models": [str(m) for m in models],
        "weights": weights,
        "base": base,
        "out_dtype": out_dtype or "inputs'",
        **(made_by or {}),
    }

    with atomic_path(out_dir, directory=True) as tmp, ExitStack() as stack:
        handles: dict[Path, object] = {}
        # Three stages overlap (reads, the merge, writes release the GIL): a reader thread fetches
        # the next tensor's inputs while this thread merges the current one and a writer thread
        # writes the previous result. One tensor in flight per stage bounds memory.
        reader = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="merge-read"))
        writer = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="merge-write"))

        def load(ckpt: Checkpoint, name: str):
            f = ckpt.files[name]
            if f not in handles:
                handles[f] = stack.enter_context(open(f, "rb", buffering=0))
            return read_tensor(handles[f], ckpt, name)

        def inputs(name: str):
            if ref.meta[name][0] not in FLOAT:  # integer/bool buffers are not averaged: the reference's values
                return None, load(ref, name)
            return [load(c, name) for c in ckpts], (load(base_ckpt, name) if base_ckpt is not None else None)

        order = [(i, n) for i, shard in enumerate(shards) for n in shard]
        sources = [*ckpts, *([base_ckpt] if base_ckpt is not None else [])]
        in_bytes = [sum(math.prod(c.meta[n][1]) * DTYPES[c.meta[n][0]][1] for c in sources) for _, n in order]
        outs = [stack.enter_context(open(tmp / f, "wb")) for f in shard_names]
        for out, shard in zip(outs, shards):
            out.write(_header(shard, ref.meta, out_dtypes))
        pending_read = reader.submit(inputs, order[0][1]) if order else None
        pending_write = None
        for k, (i, n) in enumerate(order):
            tensors, b = pending_read.result()
            pending_read = None
            # prefetch the next inputs unless both tensors' inputs together are large (the
            # embedding and the LM head): then memory holds one of them at a time
            if k + 1 < len(order) and in_bytes[k] + in_bytes[k + 1] <= PREFETCH_BYTES:
                pending_read = reader.submit(inputs, order[k + 1][1])
            if tensors is None:
                merged = b
            else:
                merged = merge_tensor(module, tensors, weights, b, p, n, getattr(torch, DTYPES[out_dtypes[n]][0]))
            del tensors, b
            data = merged.contiguous().reshape(-1).view(torch.uint8).numpy()
            del merged
            if pending_write is not None:
                pending_write.result()
            pending_write = writer.submit(outs[i].write, data)
            del data
            if pending_read is None and k + 1 < len(order):
                pending_read = reader.submit(inputs, order[k + 1][1])
        if pending_write is not None:
            pending_write.result()
        for out in outs:
            out.close()
        if len(shards) > 1:
            total = sum(math.prod(ref.meta[n][1]) * DTYPES[out_dtypes[n]][1] for n in names)
            weight_map = {n: s for s, shard in zip(shard_names, shards) for n in shard}
            (tmp / INDEX).write_text(
                json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n"
            )
        _copy_side_files(ref.path, tmp, out_dtype)
        from expanse.checkpoint import write_card

        write_card(tmp, title=f"expanse merge ({method})", made_by=resolved)
    return {"tensors": len(names), "shards": len(shards), **resolved}


CHUNK_ELEMENTS = 2**20  # an elementwise merge works on slices this long: 4 MiB of fp32, cache-sized


def merge_tensor(module, tensors, weights, base, params, name: str, out_dtype):
    """One merged tensor in `out_dtype`. Elementwise methods run slice by slice into the output:
    the fp32 temporaries stay in cache, and no fp32 copy of the whole tensor is ever made. The
    arithmetic per element is the same as merging the whole tensor at once."""
    import torch

    def finite(t):
        if not torch.isfinite(t).all():
            raise MergeError(f"{module.__name__.rsplit('.', 1)[-1]} gave non-finite values for tensor {name}")
        return t

    if not getattr(module, "ELEMENTWISE", False) or tensors[0].numel() <= CHUNK_ELEMENTS:
        return finite(module.merge(tensors, weights, base, params, name)).to(out_dtype)
    out = torch.empty(tensors[0].shape, dtype=out_dtype)
    flat_out, flats = out.view(-1), [t.reshape(-1) for t in tensors]
    flat_base = base.reshape(-1) if base is not None else None
    for start in range(0, flat_out.numel(), CHUNK_ELEMENTS):
        end = start + CHUNK_ELEMENTS
        part = module.merge(
            [f[start:end] for f in flats],
            weights,
            flat_base[start:end] if flat_base is not None else None,
            params,
            name,
        )
        flat_out[start:end].copy_(finite(part))
    return out


def read_tensor(handle, ckpt: Checkpoint, name: str):
    """One tensor, read by a positioned read of its bytes into memory it owns."""
    import torch

    dtype, shape = ckpt.meta[name]
    begin, end = ckpt.spans[name]
    torch_dtype = getattr(torch, DTYPES[dtype][0])
    if end == begin:
        return torch.empty(shape, dtype=torch_dtype)
    raw = torch.empty(end - begin, dtype=torch.uint8)  # not zero-filled: the read fills it
    view, got = memoryview(raw.numpy()), 0
    while got < len(view):
        n = os.preadv(handle.fileno(), [view[got:]], begin + got)
        if n <= 0:
            raise MergeError(f"{ckpt.files[name]}: truncated (tensor {name})")
        got += n
    return raw.view(torch_dtype).reshape(shape)


def _copy_side_files(src: Path, dst: Path, out_dtype: str | None) -> None:
    """Config, generation config and tokenizer of the reference model (base, or the first)."""
    for f in sorted(src.iterdir()):
        if f.is_file() and f.name not in NOT_WEIGHTS and not f.name.endswith(".safetensors"):
            shutil.copy2(f, dst / f.name)
    if out_dtype and (dst / "config.json").is_file():
        cfg = json.loads((dst / "config.json").read_text())
        cfg["dtype"] = out_dtype
        cfg.pop("torch_dtype", None)
        (dst / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
