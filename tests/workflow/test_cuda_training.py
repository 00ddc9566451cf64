"""A tiny family chain (SFT, DPO, one online iteration) trained on CUDA in bf16 through the same
rules and scripts as on CPU. Skipped where no GPU is present."""

from __future__ import annotations

import json

import pytest
from smk import params_of, snakemake, write_params

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.workflow, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_family_chain_trains_in_bf16_on_cuda(built_copy):
    p = params_of(built_copy)
    tiny = p["scales"]["tiny"]
    for section in (tiny["sft"], tiny["dpo"], tiny["online"]["dpo"]):
        section["precision"] = "bf16"
    for key in ("generate", "score", "sft", "dpo"):
        tiny["resources"][key]["gpu"] = 1
    tiny["online"]["iterations"] = 1
    write_params(built_copy, p)
    family = next(iter(p["families"]))
    target = f"results/tiny/checkpoints/{family}/online_it1"
    snakemake(built_copy, "-c2", target)
    for stage in ("sft", "dpo", "online_it1"):
        d = built_copy / f"results/tiny/checkpoints/{family}/{stage}"
        cfg = json.loads((d / "config.json").read_text())
        assert cfg.get("dtype", cfg.get("torch_dtype")) == "bfloat16"
        log = (
            built_copy
            / f"logs/tiny/train_{'sft' if stage == 'sft' else 'dpo' if stage == 'dpo' else 'online_dpo'}"
            / (f"{family}.log" if stage != "online_it1" else f"{family}/it1.log")
        ).read_text()
        assert "cuda" in log
        m = json.loads((built_copy / f"results/tiny/checkpoints/{family}/{stage}.metrics.json").read_text())
        assert m["global_step"] > 0
    sft = json.loads((built_copy / f"results/tiny/checkpoints/{family}/sft.metrics.json").read_text())
    assert sft["eval_after"]["loss"] < sft["eval_before"]["loss"]
