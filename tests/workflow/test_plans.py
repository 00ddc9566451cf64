"""Planning without running: bad params fail in one line; 8b/32b plan with their GPU resources;
the workflow lints clean. Runs on the real repo (dry runs write nothing but .snakemake metadata)."""

from __future__ import annotations

import re

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
    assert {r for r, _ in jobs} == {
        "prepare_prompts",
        "generate_teacher",
        "score_arbiter",
        "select_arbitrage",
        "build_pairs",
        "summarize_arbitrage",
    }
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
    assert sorted(merge[0]["_input"]) == sorted(
        f"results/32b/checkpoints/{f}/online_it{n}" for f in shipped_params["families"]
    )
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
            assert "results/tiny/merges/sft" in w["_input"] and not any(
                i.endswith("/sft") and "checkpoints" in i for i in w["_input"]
            )
        if r == "train_online_dpo" and w["it"] == "1":
            assert "results/tiny/merges/dpo" in w["_input"]
            assert not any(i.endswith("/dpo") and "checkpoints" in i for i in w["_input"])
        if r == "sample_policy" and w["it"] == "1":
            assert "results/tiny/merges/dpo" in w["_input"]


def test_tiny_plans_every_job_without_gpu(tmp_path):
    jobs = planned_jobs(copy_repo(tmp_path / "repo"), "all")
    assert len(jobs) > 200
    assert all("gpu=0" in w["_resources"] and "gpu_model" not in w["_resources"] for _, w in jobs)


def rule_classes() -> dict[str, str]:
    """rule -> the params resource class its `resources:` draws from (resources_for("...") in rules/*.smk)."""
    classes, derived = {}, {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule \w+:|use rule \w+ as \w+)", smk.read_text(), flags=re.M):
            key = re.search(r'\*\*resources_for\("(\w+)"\)', block)
            name = re.match(r"rule (\w+):", block)
            used = re.match(r"use rule (\w+) as (\w+)", block)
            if used and key:
                classes[used.group(2)] = key.group(1)
            elif used:  # `use rule A as B with:` keeps A's resources unless it sets its own
                derived[used.group(2)] = used.group(1)
            elif name and key:
                classes[name.group(1)] = key.group(1)
    return classes | {new: classes[base] for new, base in derived.items() if base in classes}


def test_every_8b_and_32b_job_requests_exactly_its_params_class(shipped_params):
    """What each planned job asks SLURM for is its rule's class in scales.<scale>.resources, as
    slurm_resources maps it (multi-node training included), whether rules/common.smk passes a value
    plain or as a function of the scale."""
    from expanse import workflow_support as ws
    from expanse.config import validate

    p, classes = validate(shipped_params), rule_classes()
    jobs = planned_jobs(REPO, "eval_32b", "eval_8b")
    assert {r for r, _ in jobs} <= set(classes) and len(jobs) > 1000
    for rule, w in jobs:
        printed = dict(item.split("=", 1) for item in w["_resources"].split(", "))
        want = ws.slurm_resources(ws.resources(p, w["scale"], classes[rule]))
        for name in ws.SLURM_RESOURCE_NAMES:
            assert printed.get(name) == (None if want.get(name) is None else str(want[name])), (rule, w, name)


def test_lint_is_clean():
    proc = snakemake(REPO, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_bad_params_fail_with_one_line_naming_the_key(tmp_path, params):
    params["scales"]["tiny"]["generation"]["temprature"] = 0.5
    root = copy_repo(tmp_path / "repo", params)
    proc = snakemake(root, "-n", check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: params.yaml: scales.tiny.generation.temprature: unknown key"]
    assert not (root / "results").exists()


def test_duplicate_key_in_params_fails(tmp_path):
    root = copy_repo(tmp_path / "repo")
    text = (root / "params.yaml").read_text().replace("seed: 1234", "seed: 1234\nseed: 99")
    (root / "params.yaml").write_text(text)
    proc = snakemake(root, "-n", check=False)
    assert proc.returncode != 0 and "error: params.yaml:" in proc.stderr and "duplicate key 'seed'" in proc.stderr


def test_32b_eval_plans_judges_and_benchmarks_on_gpus(shipped_params):
    jobs = planned_jobs(REPO, "eval_32b")
    n_teachers = len(shipped_params["scales"]["32b"]["teachers"])
    n_fam = len(shipped_params["families"])
    gen = [w for r, w in jobs if r == "generate_eval"]
    judge = [w for r, w in jobs if r == "judge_pairwise"]
    bench = [w for r, w in jobs if r == "run_benchmark"]
    # merged, base, the language's family model and every teacher answer each language
    assert len(gen) == 23 * (3 + n_teachers) and all("gpu=4" in w["_resources"] for w in gen)
    assert len(judge) == 23 and all("gpu=4" in w["_resources"] and "gpu_model=h100" in w["_resources"] for w in judge)
    assert {(w["bench"], w["model"]) for w in bench} == {
        (b, m)
        for b in ("global_mmlu", "mgsm")
        for m in ("merged", "base", *(f"family.{f}" for f in shipped_params["families"]))
    }
    assert len(bench) == 2 * (2 + n_fam) and all("gpu=2" in w["_resources"] for w in bench)
    assert not any(i.startswith("data/eval/lm_eval") for w in bench for i in w.get("_input", []))  # lm-eval's own tasks


def test_32b_benchmarks_name_lm_evals_real_tasks(shipped_params):
    """Every task the 32b benchmarks would run exists in the installed lm-eval's task index."""
    from lm_eval.tasks import TaskManager

    from expanse import workflow_support as ws
    from expanse.config import validate
    from expanse.evaluation.benchmarks import task_names

    p = validate(shipped_params)
    names = {}
    for bench in p.scales["32b"].eval.benchmarks:
        names[bench] = task_names(ws.benchmark_cfg(p, "32b", bench), list(p.languages))
    assert len(names["global_mmlu"]) == 23 and names["global_mmlu"]["fr"] == "global_mmlu_full_fr"
    assert (
        sorted(names["mgsm"]) == ["de", "en", "es", "fr", "ja", "ru", "zh"] and names["mgsm"]["ja"] == "mgsm_direct_ja"
    )
    known = set(TaskManager().all_tasks)
    missing = [t for per_lang in names.values() for t in per_lang.values() if t not in known]
    assert not missing, missing


def test_jobs_on_the_way_to_the_merged_model_go_first(tmp_path):
    """Every job the merged model needs has priority; every other job of `all` (evals of the base,
    teachers and families, held-out measurements, summaries) waits for idle cores."""
    repo = copy_repo(tmp_path / "repo")

    def key(rule, w):
        return rule, tuple(sorted((k, v) for k, v in w.items() if not k.startswith("_")))

    chain = {key(r, w): w.get("_priority", 0) for r, w in planned_jobs(repo, "merged_tiny")}
    rest = {key(r, w): w.get("_priority", 0) for r, w in planned_jobs(repo, "all") if key(r, w) not in chain}
    assert chain and rest
    assert set(chain.values()) == {1}, sorted(k for k, v in chain.items() if v != 1)
    assert set(rest.values()) == {0}, sorted(k for k, v in rest.items() if v != 0)
    assert {r for r, _ in rest} >= {"generate_eval", "judge_pairwise", "run_benchmark", "measure_teacher_loss"}
