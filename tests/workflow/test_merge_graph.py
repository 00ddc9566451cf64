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


def test_merge_weight_search_scores_every_candidate_and_the_merge_uses_the_choice(built):
    p = params_of(built)
    cfg = p["scales"]["tiny"]["merge"]["search"]
    assert cfg["enabled"]  # on at tiny
    search = json.loads((built / "results/tiny/merge_search.json").read_text())
    cands, families, langs = search["candidates"], list(p["families"]), set(p["languages"])
    assert len(cands) == cfg["budget"] and [c["index"] for c in cands] == list(range(cfg["budget"]))
    total = sum(p["families"].values())
    assert cands[0]["note"] == "hand-set" and cands[0]["weights"] == {
        f: round(w / total, 6) for f, w in p["families"].items()
    }
    for c in cands:
        assert sorted(c["weights"]) == sorted(families) and abs(sum(c["weights"].values()) - 1) < 1e-5
        assert set(c["scores"]) == langs  # every language's dev prompts scored
        assert c["objective"] == pytest.approx(sum(c["scores"].values()) / len(langs), abs=1e-5)
        drops = {lang: c["scores"][lang] - cands[0]["scores"][lang] for lang in langs}
        assert c["feasible"] == (min(drops.values()) >= -cfg["max_language_drop"] - 1e-9)
    best = max((c for c in cands if c["feasible"]), key=lambda c: (c["objective"], -c["index"]))
    assert search["chosen"]["index"] == best["index"] and search["chosen"]["weights"] == best["weights"]
    made = json.loads((built / "results/tiny/merged/expanse_config.json").read_text())
    assert made["families"] == best["weights"]
    report = (built / "results/tiny/eval/report.md").read_text()
    assert "## Merge-weight search (coordinate" in report and f"candidate {best['index']}" in report
    assert not list((built / "results/tiny").glob(".merge_search.json.*"))  # the work directory is gone


def test_merged_model_is_the_weighted_average_and_generates(built):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = params_of(built)
    n = p["scales"]["tiny"]["online"]["iterations"]
    weights = p["families"]
    if p["scales"]["tiny"]["merge"]["search"]["enabled"]:  # the weights the search chose
        weights = json.loads((built / "results/tiny/merge_search.json").read_text())["chosen"]["weights"]
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
    enc = tok.apply_chat_template(
        [[{"role": "user", "content": "Bonjour, comment ça va ?"}]],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    text = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
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
