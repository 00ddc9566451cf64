"""Merge methods on small tensors with known answers, the streaming engine on pico checkpoints
(sharded in and out), and its errors (raised before anything is written)."""

import json
import math

import pytest
import torch
from conftest import checkpoint_tensors
from safetensors import safe_open
from safetensors.torch import save_file

from expanse.merging import get_method
from expanse.merging.engine import MergeError, merge_checkpoints


def run(method, tensors, weights=None, base=None, **params):
    m = get_method(method)
    w = weights or [1.0] * len(tensors)
    return m.merge(
        [torch.tensor(t, dtype=torch.float32) for t in tensors],
        w,
        None if base is None else torch.tensor(base, dtype=torch.float32),
        m.Params(**params),
        "x",
    )


def test_non_finite_results_are_refused(tmp_path):
    t = pico(0)
    t["layer.0.w"][0, 0] = float("inf")
    models = [write_ckpt(tmp_path / "m0", t), write_ckpt(tmp_path / "m1", pico(1))]
    with pytest.raises(MergeError, match="non-finite values for tensor layer.0.w"):
        merge_checkpoints(models, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_linear_is_the_normalised_weighted_average():
    out = run("linear", [[1.0, 2.0], [3.0, 6.0]], weights=[1.0, 3.0])
    assert out.tolist() == [2.5, 5.0]
    assert run("linear", [[1.0], [3.0]], weights=[1.0, 3.0], normalize=False).tolist() == [10.0]


def test_slerp_moves_along_the_circle_per_tensor():
    out = run("slerp", [[[1.0, 0.0]], [[0.0, 1.0]]], t=0.5)  # orthogonal: 45 degrees
    assert out.tolist()[0] == pytest.approx([math.sqrt(0.5), math.sqrt(0.5)])
    assert run("slerp", [[[2.0, 0.0]], [[4.0, 0.0]]], t=0.25).tolist() == [[2.5, 0.0]]  # collinear: linear
    out = run("slerp", [[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]]], t=0.5)  # the whole tensor is one vector
    assert out.reshape(-1).tolist() == pytest.approx([math.sqrt(0.5), 0.0, 0.0, math.sqrt(0.5)])


def test_task_arithmetic_adds_weighted_deltas():
    out = run("task_arithmetic", [[2.0, 1.0], [0.0, 3.0]], weights=[1.0, 0.5], base=[1.0, 1.0])
    assert out.tolist() == [1.0 + 1.0 - 0.5, 1.0 + 0.0 + 1.0]
    assert run("task_arithmetic", [[3.0]], base=[1.0], **{"lambda": 0.5}).tolist() == [2.0]


def test_ties_trims_elects_a_sign_and_averages_the_agreeing_deltas():
    base = [0.0, 0.0, 0.0, 0.0]
    a = [1.0, -2.0, 0.1, 3.0]
    b = [2.0, 1.0, -0.2, -1.0]
    out = run("ties", [a, b], base=base, density=0.5)
    # trimmed: a -> [0, -2, 0, 3]; b -> [2, 1, 0, 0]; signs by sum: [+, -, +, +]
    # position 0: only b (2) -> 2/1; 1: only a agrees (-2) -> -2; 2: nothing -> 0; 3: a -> 3
    assert out.tolist() == [2.0, -2.0, 0.0, 3.0]


def test_dare_ties_is_seeded_and_keeps_the_density_in_expectation():
    torch.manual_seed(0)
    a, b = torch.randn(2000).tolist(), torch.randn(2000).tolist()
    one = run("dare_ties", [a, b], base=[0.0] * 2000, density=0.3, seed=7)
    assert torch.equal(one, run("dare_ties", [a, b], base=[0.0] * 2000, density=0.3, seed=7))
    assert not torch.equal(one, run("dare_ties", [a, b], base=[0.0] * 2000, density=0.3, seed=8))
    kept = (run("dare_ties", [a], base=[0.0] * 2000, density=0.3, seed=7) != 0).float().mean().item()
    assert 0.25 < kept < 0.35
    full = run("dare_ties", [a, b], base=[0.0] * 2000, density=1.0)
    assert torch.allclose(full, run("ties", [a, b], base=[0.0] * 2000, normalize=False))


# ------------------------------------------------------------------------------- the engine
def write_ckpt(path, tensors, *, shards=1, vocab="v1", dtype=torch.float32):
    path.mkdir(parents=True)
    names = list(tensors)
    per = math.ceil(len(names) / shards)
    groups = [names[i : i + per] for i in range(0, len(names), per)]
    if shards == 1:
        save_file({n: tensors[n].to(dtype) for n in names}, path / "model.safetensors", metadata={"format": "pt"})
    else:
        weight_map = {}
        for i, group in enumerate(groups):
            fname = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
            save_file({n: tensors[n].to(dtype) for n in group}, path / fname, metadata={"format": "pt"})
            weight_map.update({n: fname for n in group})
        (path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (path / "config.json").write_text(json.dumps({"model_type": "pico", "vocab_size": 8}))
    (path / "tokenizer.json").write_text(json.dumps({"vocab": vocab}))
    return str(path)


def pico(seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return {
        "embed.weight": torch.randn(8, 4, generator=g) * scale,
        "layer.0.w": torch.randn(4, 4, generator=g),
        "layer.0.b": torch.randn(4, generator=g),
        "norm.weight": torch.ones(4) * (1 + seed),
    }


def test_engine_streams_sharded_inputs_into_sharded_output(tmp_path):
    models = [write_ckpt(tmp_path / f"m{i}", pico(i), shards=2) for i in range(3)]
    out = tmp_path / "merged"
    info = merge_checkpoints(models, str(out), weights=[1.0, 2.0, 1.0], max_shard_bytes=100)
    assert info["shards"] > 1
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(pico(0))
    merged = checkpoint_tensors(out)
    for name in pico(0):
        expected = (pico(0)[name] + 2 * pico(1)[name] + pico(2)[name]) / 4
        assert torch.allclose(merged[name], expected, atol=1e-6), name
    assert json.loads((out / "config.json").read_text())["model_type"] == "pico"
    assert (out / "tokenizer.json").is_file() and (out / "README.md").is_file()
    made = json.loads((out / "expanse_config.json").read_text())
    assert made["method"] == "linear" and made["weights"] == [1.0, 2.0, 1.0]


def test_engine_writes_the_inputs_dtype_unless_told(tmp_path):
    models = [write_ckpt(tmp_path / f"m{i}", pico(i), dtype=torch.bfloat16) for i in range(2)]
    merge_checkpoints(models, str(tmp_path / "a"))
    assert all(t.dtype == torch.bfloat16 for t in checkpoint_tensors(tmp_path / "a").values())
    merge_checkpoints(models, str(tmp_path / "b"), out_dtype="float32")
    assert all(t.dtype == torch.float32 for t in checkpoint_tensors(tmp_path / "b").values())
    assert json.loads((tmp_path / "b/config.json").read_text())["dtype"] == "float32"


@pytest.mark.parametrize(
    "change, kwargs, message",
    [
        (lambda t: t.pop("layer.0.b"), {}, "tensor layer.0.b is missing"),
        (lambda t: t.update({"extra": torch.ones(1)}), {}, "tensor extra is not in"),
        (lambda t: t.update({"layer.0.w": torch.ones(4, 5)}), {}, "layer.0.w has shape [4, 5]"),
        (None, {"weights": [1.0]}, "1 weights for 2 models"),
        (None, {"weights": [1.0, 0.0]}, "weight 2 is 0.0"),
        (None, {"method": "average"}, "unknown merge method 'average'"),
        (None, {"params": {"normalise": True}}, "linear: parameter normalise: unknown parameter"),
        (None, {"method": "ties"}, "ties merges relative to a base model"),
        (None, {"method": "slerp", "params": {"t": 2}}, "slerp: parameter t"),
    ],
)
def test_bad_merges_fail_before_writing(tmp_path, change, kwargs, message):
    t1 = pico(1)
    if change:
        change(t1)
    models = [write_ckpt(tmp_path / "m0", pico(0)), write_ckpt(tmp_path / "m1", t1)]
    with pytest.raises(MergeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        merge_checkpoints(models, str(tmp_path / "out"), **kwargs)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_different_vocabularies_and_dtypes_are_refused(tmp_path):
    a = write_ckpt(tmp_path / "a", pico(0))
    b = write_ckpt(tmp_path / "b", pico(1), vocab="v2")
    with pytest.raises(MergeError, match="tokenizer.json differs"):
        merge_checkpoints([a, b], str(tmp_path / "out"))
    c = write_ckpt(tmp_path / "c", pico(1), dtype=torch.bfloat16)
    with pytest.raises(MergeError, match="is BF16"):
        merge_checkpoints([a, c], str(tmp_path / "out"))


def test_pico_cohere_without_qk_norm_merges_loads_and_generates(tmp_path):
    from transformers import AutoModelForCausalLM, CohereConfig

    cfg = CohereConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        use_qk_norm=False,
        tie_word_embeddings=True,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    paths = []
    for i in range(3):
        torch.manual_seed(i)
        model = AutoModelForCausalLM.from_config(cfg)
        model.save_pretrained(tmp_path / f"fam{i}", safe_serialization=True)
        paths.append(str(tmp_path / f"fam{i}"))
    with safe_open(str(tmp_path / "fam0/model.safetensors"), "pt") as h:
        names = set(h.keys())
    assert not any("q_norm" in n for n in names) and "lm_head.weight" not in names  # tied: stored once
    merge_checkpoints(paths, str(tmp_path / "merged"), weights=[1.0, 1.0, 2.0])
    assert set(checkpoint_tensors(tmp_path / "merged")) == names
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", use_safetensors=True)
    assert merged.lm_head.weight.data_ptr() == merged.model.embed_tokens.weight.data_ptr()
    out = merged.generate(torch.tensor([[1, 5, 9]]), max_new_tokens=5, do_sample=False)
    assert out.shape == (1, 8)


def test_a_truncated_input_is_an_error_and_writes_nothing(tmp_path):
    models = [write_ckpt(tmp_path / "m0", pico(0)), write_ckpt(tmp_path / "m1", pico(1))]
    f = tmp_path / "m1/model.safetensors"
    f.write_bytes(f.read_bytes()[:-40])
    with pytest.raises(MergeError, match="truncated"):
        merge_checkpoints(models, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_elementwise_merges_in_slices_give_the_same_bytes(tmp_path, monkeypatch):
    """Slicing (cache-sized fp32 temporaries) changes nothing: same output bytes as one-shot, and a
    non-finite value in a late slice is still refused."""
    import expanse.merging.engine as engine

    gen = torch.Generator().manual_seed(3)
    models = []
    for i in range(3):
        t = {"big.w": torch.randn(37, 29, generator=gen).to(torch.bfloat16), "small.b": torch.randn(5, generator=gen)}
        models.append(write_ckpt(tmp_path / f"m{i}", t))
    merge_checkpoints(models, str(tmp_path / "whole"), weights=[1.0, 2.0, 0.5], out_dtype="bfloat16")
    monkeypatch.setattr(engine, "CHUNK_ELEMENTS", 100)  # 1073 elements: 11 slices, the last one short
    merge_checkpoints(models, str(tmp_path / "sliced"), weights=[1.0, 2.0, 0.5], out_dtype="bfloat16")
    assert (tmp_path / "sliced/model.safetensors").read_bytes() == (tmp_path / "whole/model.safetensors").read_bytes()
    bad = {"big.w": torch.randn(37, 29, generator=gen).to(torch.bfloat16), "small.b": torch.randn(5, generator=gen)}
    bad["big.w"][36, 28] = float("nan")
    with pytest.raises(MergeError, match="non-finite values for tensor big.w"):
        merge_checkpoints([models[0], write_ckpt(tmp_path / "bad", bad)], str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
