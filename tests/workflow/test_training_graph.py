"""The training half of the shrunk tiny graph (SFT, offline DPO, 2 online DPO iterations for each
of 3 families), trained for real with trl through Snakemake, then checked: the checkpoints, that
each stage does what it is for on held-out (dev) data, resuming a killed job, determinism."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from smk import SNAKEMAKE, params_of, planned_jobs, snakemake, write_params

pytestmark = pytest.mark.workflow


def families(root):
    return list(params_of(root)["families"])


def stages(root):
    n = params_of(root)["scales"]["tiny"]["online"]["iterations"]
    return ["sft", "dpo", *(f"online_it{i}" for i in range(1, n + 1))]


def metrics(root, family, stage):
    return json.loads((root / f"results/tiny/checkpoints/{family}/{stage}.metrics.json").read_text())


def test_every_stage_leaves_a_complete_checkpoint(built):
    ckpts = built / "results/tiny/checkpoints"
    for family in families(built):
        for stage in stages(built):
            d = ckpts / family / stage
            for name in (
                "model.safetensors",
                "config.json",
                "generation_config.json",
                "tokenizer.json",
                "tokenizer_config.json",
                "README.md",
                "expanse_config.json",
                "metrics.json",
            ):
                assert (d / name).is_file(), (d, name)
            assert not list(d.glob("*.bin")) and not list(d.glob("*.pt")) and not list(d.glob("adapter_*"))
            cfg = json.loads((d / "config.json").read_text())
            assert cfg["model_type"] == "cohere" and cfg["use_qk_norm"] is False
            made = json.loads((d / "expanse_config.json").read_text())
            assert made["family"] == family and made["seed"] == params_of(built)["seed"]
            card = (d / "README.md").read_text()
            assert "**model**" in card and "**data**" in card and "**config**" in card and "**seed**" in card
            m = metrics(built, family, stage)
            assert m["global_step"] > 0 and m["train"] and m["resumed_from_step"] == 0
    # resume state is removed once a model is in place
    assert not (built / "results/tiny/resume").exists()


def test_training_inputs_are_the_familys_own_files(built):
    p = params_of(built)
    for family in families(built):
        langs = sorted(c for c, v in p["languages"].items() if v["family"] == family)
        sft = json.loads((built / f"results/tiny/checkpoints/{family}/sft/expanse_config.json").read_text())
        assert sorted(sft["data"]) == [f"results/tiny/arbitrage/{c}.parquet" for c in langs]
        assert sft["model"] == "results/tiny/models/base"
        dpo = json.loads((built / f"results/tiny/checkpoints/{family}/dpo/expanse_config.json").read_text())
        assert dpo["model"] == dpo["reference"] == f"results/tiny/checkpoints/{family}/sft"
        it1 = json.loads((built / f"results/tiny/checkpoints/{family}/online_it1/expanse_config.json").read_text())
        it2 = json.loads((built / f"results/tiny/checkpoints/{family}/online_it2/expanse_config.json").read_text())
        assert it1["model"] == it1["reference"] == f"results/tiny/checkpoints/{family}/dpo"
        assert it2["model"] == f"results/tiny/checkpoints/{family}/online_it1"
        assert it2["reference"] == f"results/tiny/checkpoints/{family}/dpo"  # the reference stays fixed
        assert sorted(it2["data"]) == [f"results/tiny/online/{family}/it2/pairs/{c}.parquet" for c in langs]


def test_sft_lowers_heldout_loss_on_the_familys_arbitraged_completions(built):
    for family in families(built):
        m = metrics(built, family, "sft")
        assert m["dev_rows"] > 0
        assert m["eval_after"]["loss"] < m["eval_before"]["loss"] - 0.1, (family, m["eval_before"], m["eval_after"])


def test_dpo_raises_the_heldout_reward_margin(built):
    for family in families(built):
        m = metrics(built, family, "dpo")
        assert m["dev_rows"] > 0
        before, after = m["eval_before"]["rewards/margins"], m["eval_after"]["rewards/margins"]
        assert abs(before) < 1e-6  # policy == reference before training: no margin
        assert after > 0.05, (family, after)
        assert m["eval_after"]["rewards/accuracies"] > 0.5


def test_online_iterations_raise_the_arbiters_score_of_the_policys_samples(built):
    summary = json.loads((built / "results/tiny/checkpoints/summary.json").read_text())
    gains = []
    for family in families(built):
        samples = summary[family]["online_samples"]
        assert set(samples) == {"it1", "it2"}
        # it1 samples the offline DPO model, it2 the model after one online iteration; dev prompts
        # are held out (their pairs measure, never train)
        gains.append(samples["it2"]["dev"]["mean_score"] - samples["it1"]["dev"]["mean_score"])
        assert summary[family]["stages"]["online_it1"]["global_step"] > 0
    print("online gains per family:", gains)
    assert sum(gains) / len(gains) > 0, gains


def test_more_iterations_reuse_the_iterations_already_built(built_copy):
    p = params_of(built_copy)
    p["scales"]["tiny"]["online"]["iterations"] = 3
    write_params(built_copy, p)
    jobs = planned_jobs(built_copy)
    assert {r for r, _ in jobs} == {
        "sample_policy",
        "score_policy",
        "build_online_pairs",
        "train_online_dpo",
        "summarize_training",
        "search_merge_weights",
        "merge_families",
        "generate_eval",
        "judge_pairwise",
        "run_benchmark",
        "lineage",
        "eval_report",
    }
    assert {w["it"] for _, w in jobs if "it" in w} == {"3"}
    # only the models that changed answer again: the merged one and the families' (base and teachers do not)
    assert {w["model"].split(".")[0] for r, w in jobs if r == "generate_eval"} == {"merged", "family"}
    assert sum(r == "train_online_dpo" for r, _ in jobs) == len(families(built_copy))


def test_training_is_byte_identical_on_rerun(built_copy):
    """SFT (with its dev-set eval) and online DPO (reference model + policy) rerun to the same bytes:
    every file of the checkpoint and the metrics beside it (no wall-clock figure in them)."""
    family = families(built_copy)[0]

    def files(stage):
        out = built_copy / f"results/tiny/checkpoints/{family}/{stage}"
        return {p: p.read_bytes() for p in [*sorted(out.rglob("*")), out.with_suffix(".metrics.json")] if p.is_file()}

    before = {stage: files(stage) for stage in ("sft", "online_it1")}
    assert "eval_after" in metrics(built_copy, family, "sft")
    # one rule per call: with --allowed-rules nothing between the two stages reruns
    for rule, stage in (("train_online_dpo", "online_it1"), ("train_sft", "sft")):
        target = f"results/tiny/checkpoints/{family}/{stage}"
        snakemake(built_copy, "-c2", "--forcerun", rule, "--allowed-rules", rule, "--", target)
        after = files(stage)
        assert after.keys() == before[stage].keys(), stage
        for path, data in after.items():
            assert data == before[stage][path], path


def test_a_killed_training_job_resumes_and_ends_with_the_same_weights(built_copy):
    p = params_of(built_copy)
    p["scales"]["tiny"]["sft"].update(max_steps=30, save_steps=5)
    write_params(built_copy, p)
    family = families(built_copy)[0]
    target = f"results/tiny/checkpoints/{family}/sft"
    out, work = built_copy / target, built_copy / f"results/tiny/resume/{family}/sft"
    snakemake(built_copy, "-c1", target)  # uninterrupted
    reference = (out / "model.safetensors").read_bytes()
    assert metrics(built_copy, family, "sft")["global_step"] == 30

    proc = subprocess.Popen(
        [*SNAKEMAKE, "-c1", "--forcerun", target, "--allowed-rules", "train_sft", "--", target],
        cwd=built_copy,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (work / "checkpoint-10" / "trainer_state.json").exists():
        assert proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # preemption: no chance to clean up
    proc.wait()
    assert not out.exists(), "a killed job must not leave a finished-looking checkpoint"
    saved = sorted(int(c.name.split("-")[1]) for c in work.glob("checkpoint-*") if (c / "trainer_state.json").exists())
    assert saved and 10 <= saved[-1] < 30

    snakemake(built_copy, "--unlock")  # Snakemake itself was killed too (the harshest case)
    snakemake(built_copy, "-c1", target)  # the rerun
    m = metrics(built_copy, family, "sft")
    assert m["resumed_from_step"] == saved[-1] and m["global_step"] == 30
    assert f"resuming from step {saved[-1]}" in (built_copy / f"logs/tiny/train_sft/{family}.log").read_text()
    assert (out / "model.safetensors").read_bytes() == reference
    assert not work.exists() and not work.parent.exists()


def test_lora_is_merged_back_into_a_plain_checkpoint(built_copy):
    from safetensors import safe_open

    p = params_of(built_copy)
    p["scales"]["tiny"]["sft"]["lora"] = {"r": 4, "alpha": 8}
    write_params(built_copy, p)
    family = families(built_copy)[0]
    target = built_copy / f"results/tiny/checkpoints/{family}/sft"
    snakemake(built_copy, "-c1", "--allowed-rules", "train_sft", "--", str(target.relative_to(built_copy)))
    assert not list(target.glob("adapter_*")) and (target / "model.safetensors").is_file()
    base = built_copy / "results/tiny/models/base/model.safetensors"
    with safe_open(base, "pt") as b, safe_open(target / "model.safetensors", "pt") as m:
        assert set(m.keys()) == set(b.keys())  # same tensors as the base: no lora_A/lora_B left
        changed = [k for k in b.keys() if not (b.get_tensor(k) == m.get_tensor(k)).all()]
    assert changed and all("proj" in k for k in changed)  # the adapted linear layers moved, nothing else
    assert (
        metrics(built_copy, family, "sft")["eval_after"]["loss"]
        < metrics(built_copy, family, "sft")["eval_before"]["loss"]
    )
