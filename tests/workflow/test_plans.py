"""Planning without running: bad params fail in one line; 8b/32b plan with their GPU resources;
the workflow lints clean. Runs on the real repo (dry runs write nothing but .snakemake metadata)."""

from __future__ import annotations

import yaml

from shrink import REPO, copy_repo
from smk import planned_jobs, snakemake


def test_32b_arbitrage_plans_with_gpu_resources(shipped_params):
    jobs = planned_jobs(REPO, "arbitrage_32b")
    gen = [w for r, w in jobs if r == "generate_teacher"]
    score = [w for r, w in jobs if r == "score_arbiter"]
    n_teachers = len(shipped_params["scales"]["32b"]["teachers"])
    assert len(gen) == len(score) == 23 * n_teachers
    assert all("gpu=4" in w["_resources"] and "gpu_model=h100" in w["_resources"] for w in gen)
    assert all("gpu=1" in w["_resources"] for w in score)
    assert not any(r.startswith("pretrain") for r, _ in jobs)  # hub models: nothing to build


def test_8b_arbitrage_plans():
    jobs = planned_jobs(REPO, "arbitrage_8b")
    assert {r for r, _ in jobs} == {"prepare_prompts", "generate_teacher", "score_arbiter", "select_arbitrage", "build_pairs",
                                     "summarize_arbitrage"}
    assert all("gpu=1" in w["_resources"] for r, w in jobs if r == "generate_teacher")


def test_32b_training_plans_multi_node_gpu_jobs(shipped_params):
    jobs = planned_jobs(REPO, "train_32b")
    n_fam = len(shipped_params["families"])
    iterations = shipped_params["scales"]["32b"]["online"]["iterations"]
    count = lambda rule: sum(r == rule for r, _ in jobs)  # noqa: E731
    assert count("train_sft") == count("train_dpo") == n_fam
    assert count("train_online_dpo") == n_fam * iterations
    assert count("sample_policy") == count("score_policy") == count("build_online_pairs") == 23 * iterations
    for r, w in jobs:
        if r in ("train_sft", "train_dpo", "train_online_dpo"):
            assert "gpu=16" in w["_resources"] and "nodes=2" in w["_resources"] and "gpu_model=h100" in w["_resources"]
        if r == "sample_policy":
            assert "gpu=4" in w["_resources"]
    assert {w["it"] for r, w in jobs if r == "train_online_dpo"} == {str(i) for i in range(1, iterations + 1)}


def test_8b_training_plans_one_node():
    jobs = planned_jobs(REPO, "train_8b")
    sft = [w for r, w in jobs if r == "train_sft"]
    assert sft and all("gpu=8" in w["_resources"] and "nodes=1" in w["_resources"] for w in sft)


def test_32b_merge_plans_on_cpu_after_the_last_online_iteration(shipped_params):
    jobs = planned_jobs(REPO, "merged_32b")
    merge = [w for r, w in jobs if r == "merge_families"]
    assert len(merge) == 1 and "gpu=0" in merge[0]["_resources"] and "mem_mb=64000" in merge[0]["_resources"]
    n = shipped_params["scales"]["32b"]["online"]["iterations"]
    assert sorted(merge[0]["_input"]) == sorted(f"results/32b/checkpoints/{f}/online_it{n}" for f in shipped_params["families"])
    assert not any(r == "merge_stage" for r, _ in jobs)


def test_merging_after_sft_and_dpo_restarts_every_family_from_the_merge(tmp_path, shipped_params):
    params = yaml.safe_load(yaml.safe_dump(shipped_params))
    params["scales"]["tiny"]["merge"]["after"] = ["sft", "dpo", "online"]
    jobs = planned_jobs(copy_repo(tmp_path / "repo", params), "merged_tiny")
    stages = {w["stage"]: w["_input"] for r, w in jobs if r == "merge_stage"}
    assert set(stages) == {"sft", "dpo"}
    assert sorted(stages["sft"]) == sorted(f"results/tiny/checkpoints/{f}/sft" for f in shipped_params["families"])
    for r, w in jobs:
        if r == "train_dpo":
            assert "results/tiny/merges/sft" in w["_input"] and not any(i.endswith("/sft") and "checkpoints" in i for i in w["_input"])
        if r == "train_online_dpo" and w["it"] == "1":
            assert "results/tiny/merges/dpo" in w["_input"]
            assert not any(i.endswith("/dpo") and "checkpoints" in i for i in w["_input"])
        if r == "sample_policy" and w["it"] == "1":
            assert "results/tiny/merges/dpo" in w["_input"]


def test_tiny_plans_every_job_without_gpu(tmp_path):
    jobs = planned_jobs(copy_repo(tmp_path / "repo"), "all")
    assert len(jobs) > 200
    assert all("gpu=0" in w["_resources"] and "gpu_model" not in w["_resources"] for _, w in jobs)


def test_lint_is_clean():
    proc = snakemake(REPO, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_bad_params_fail_with_one_line_naming_the_key(tmp_path, params):
    params["scales"]["tiny"]["generation"]["temprature"] = 0.5
    root = copy_repo(tmp_path / "repo", params)
    proc = snakemake(root, "-n", check=False)
    assert proc.returncode != 0
    errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert errors == ["error: params.yaml: scales.tiny.generation.temprature: unknown key"]
    assert not (root / "results").exists()


def test_duplicate_key_in_params_fails(tmp_path):
    root = copy_repo(tmp_path / "repo")
    text = (root / "params.yaml").read_text().replace("seed: 1234", "seed: 1234\nseed: 99")
    (root / "params.yaml").write_text(text)
    proc = snakemake(root, "-n", check=False)
    assert proc.returncode != 0 and "error: params.yaml:" in proc.stderr and "duplicate key 'seed'" in proc.stderr
