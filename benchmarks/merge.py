"""Merge 3 synthetic checkpoints (Llama architecture, bf16, sharded, about 1.5 GB each) three ways
and print wall time and peak RSS of each: expanse's streaming linear merge, mergekit
(`mergekit-yaml`, the same linear config), and a plain read of the inputs (`cat > /dev/null`, the
I/O floor). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/merge.py                 # ~1.5 GB per model (4.5 GB of inputs)
    .venv/bin/python benchmarks/merge.py --layers 2      # a quick run
    .venv/bin/python benchmarks/merge.py --dir /data/x   # where to write (needs ~8 GB free)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def write_model(path: Path, cfg: dict, seed: int, shard_bytes: int) -> int:
    """A random bf16 checkpoint with Llama's tensor names, sharded, with its index; returns bytes."""
    import torch
    from safetensors.torch import save_file

    h, f, v, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    kv = h * cfg["num_key_value_heads"] // cfg["num_attention_heads"]
    shapes = {"model.embed_tokens.weight": (v, h)}
    for i in range(n):
        p = f"model.layers.{i}."
        shapes.update(
            {
                p + "self_attn.q_proj.weight": (h, h),
                p + "self_attn.k_proj.weight": (kv, h),
                p + "self_attn.v_proj.weight": (kv, h),
                p + "self_attn.o_proj.weight": (h, h),
                p + "mlp.gate_proj.weight": (f, h),
                p + "mlp.up_proj.weight": (f, h),
                p + "mlp.down_proj.weight": (h, f),
                p + "input_layernorm.weight": (h,),
                p + "post_attention_layernorm.weight": (h,),
            }
        )
    shapes.update({"model.norm.weight": (h,), "lm_head.weight": (v, h)})
    path.mkdir(parents=True)
    g = torch.Generator().manual_seed(seed)
    shards, current, size = [], {}, 0
    for name, shape in shapes.items():
        current[name] = (torch.randn(shape, generator=g) * 0.02).to(torch.bfloat16)
        size += current[name].numel() * 2
        if size >= shard_bytes:
            shards.append(current)
            current, size = {}, 0
    if current:
        shards.append(current)
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, path / fname, metadata={"format": "pt"})
        weight_map.update({k: fname for k in shard})
        total += sum(t.numel() * 2 for t in shard.values())
    (path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map})
    )
    (path / "config.json").write_text(
        json.dumps(
            {
                **cfg,
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "torch_dtype": "bfloat16",
                "tie_word_embeddings": False,
            }
        )
    )
    return total


def measure(cmd: list[str], env=None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command, by GNU time (a child forked from this large
    process would report this process's RSS until it execs)."""
    with tempfile.NamedTemporaryFile("r") as out:
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", out.name, *cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {proc.stderr[-2000:]}")
        return wall, int(out.read().split()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--shard-mb", type=int, default=500)
    args = ap.parse_args()
    cfg = {
        "hidden_size": 2048,
        "intermediate_size": 5504,
        "num_hidden_layers": args.layers,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "vocab_size": 32000,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5,
    }
    root = Path(tempfile.mkdtemp(prefix="expanse-merge-bench-", dir=args.dir))
    try:
        models = [root / f"m{i}" for i in range(3)]
        sizes = [write_model(m, cfg, seed=i, shard_bytes=args.shard_mb * 2**20) for i, m in enumerate(models)]
        largest = max(t for t in [cfg["vocab_size"] * cfg["hidden_size"] * 2])
        files = [str(f) for m in models for f in sorted(m.glob("*.safetensors"))]
        bin_dir = Path(sys.executable).parent
        subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)  # warm the page cache for all three

        results = {"read floor (cat > /dev/null)": measure(["sh", "-c", 'cat "$@" > /dev/null', "cat", *files])}
        ours = (
            "from expanse.merging.engine import merge_checkpoints; import sys; "
            "merge_checkpoints(sys.argv[1:4], sys.argv[4], weights=[1.0, 1.0, 1.0])"
        )
        results["expanse (linear, streaming)"] = measure(
            [sys.executable, "-c", ours, *map(str, models), str(root / "ours")]
        )
        (root / "mk.yml").write_text(
            yaml.safe_dump(
                {
                    "merge_method": "linear",
                    "dtype": "bfloat16",
                    "models": [{"model": str(m), "parameters": {"weight": 1.0}} for m in models],
                }
            )
        )
        results["mergekit-yaml (linear)"] = measure(
            [str(bin_dir / "mergekit-yaml"), str(root / "mk.yml"), str(root / "mk")],
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        print(
            f"3 inputs of {sizes[0] / 1e9:.2f} GB each (bf16, {len(files) // 3} shards), largest tensor "
            f"{largest / 2**20:.0f} MiB, CPU threads: {os.cpu_count()}"
        )
        for name, (wall, rss) in results.items():
            print(f"  {name:32s} {wall:7.2f} s   peak RSS {rss:8.0f} MiB")
        floor, ours_t, mk_t = (results[k][0] for k in results)
        print(f"  expanse vs mergekit: {mk_t / ours_t:.2f}x faster; expanse vs read floor: {ours_t / floor:.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
