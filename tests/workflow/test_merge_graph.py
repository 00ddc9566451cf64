"""The tiny graph's merge: the merged model is the weighted average of the families' last online
checkpoints, loads, and generates; a merge after an earlier stage builds and is where the next
stage starts."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import checkpoint_tensors
from smk import params_of, planned_jobs, snakemake, write_params

pytestmark = pytest.mark.workflow


def test_merged_model_is_the_weighted_average_and_generates(built):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = params_of(built)
    n = p["scales"]["tiny"]["online"]["iterations"]
    weights = p["families"]
    merged_dir = built / "results/tiny/merged"
    merged = checkpoint_tensors(merged_dir)
    families = {f: checkpoint_tensors(built / f"results/tiny/checkpoints/{f}/online_it{n}") for f in weights}
    total = sum(weights.values())
    for name, t in merged.items():
        expected = sum(w * families[f][name] for f, w in weights.items()) / total
        assert torch.allclose(t, expected, atol=1e-6), name
    assert set(merged) == set(next(iter(families.values())))
    made = json.loads((merged_dir / "expanse_config.json").read_text())
    assert made["method"] == "linear" and made["families"] == weights and made["after"] == "online"
    tok = AutoTokenizer.from_pretrained(merged_dir)
    model = AutoModelForCausalLM.from_pretrained(merged_dir, use_safetensors=True).eval()
    enc = tok.apply_chat_template([[{"role": "user", "content": "Bonjour, comment ça va ?"}]],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    text = tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert out.shape[1] > enc["input_ids"].shape[1] and text.strip()


def test_merge_after_sft_builds_and_dpo_starts_from_it(built_copy):
    p = params_of(built_copy)
    p["scales"]["tiny"]["merge"]["after"] = ["sft", "online"]
    write_params(built_copy, p)
    snakemake(built_copy, "-c1", "results/tiny/merges/sft")
    merged = checkpoint_tensors(built_copy / "results/tiny/merges/sft")
    sfts = [checkpoint_tensors(built_copy / f"results/tiny/checkpoints/{f}/sft") for f in p["families"]]
    name = next(iter(merged))
    assert torch.allclose(merged[name], sum(s[name] for s in sfts) / len(sfts), atol=1e-6)
    dpo = [w for r, w in planned_jobs(built_copy) if r == "train_dpo"]
    assert len(dpo) == len(p["families"]) and all("results/tiny/merges/sft" in w["_input"] for w in dpo)
