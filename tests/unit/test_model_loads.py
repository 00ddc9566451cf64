"""Planned model loads: which models a job loads (references, checkpoint inputs, a DPO job's
reference), their sizes from params.yaml (a built checkpoint has its base model's, a model without
size_b is unknown), the GPU-hours spent loading, what batching the jobs of a rule that load the same
models would save, and the lines `python -m expanse.lineage plan --scale 32b` prints about them."""

import copy
import json
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from expanse.config import ModelRef, validate
from expanse.errors import ConfigError
from expanse.lineage import job_models, model_loads, model_sizes, plan_loads

ASSUME = {"read_gb_per_s": 2.0, "startup_s": 60.0, "weights_dtype": "bfloat16"}


def _ref(location):
    return {"location": location, "load": {"use_safetensors": True}}


def _job(rule, phase, gpus, params, inputs=(), after=(), built=(), planned=1.0):
    """A planned job as lineage.plan describes it, its loads derived the way plan derives them."""
    models = job_models(params, list(inputs), set(built).__contains__)
    training = params.get("training")
    return {
        "rule": rule,
        "phase": phase,
        "cost": {"gpus": gpus, "planned_gpu_hours": planned},
        "loads": [{"role": m["role"], "location": m["location"]} for m in model_loads(models, training)],
        "after": list(after),
        "batchable": not any(o in built for o in params.get("_writes", ())),
    }


def _hours(size_b, gpus, startup=60.0):
    return (startup + size_b * 1e9 * 2 / 2e9) / 3600 * gpus


def _two_by_two():
    """2 languages x 2 teachers: a 70B teacher on 4 GPUs, an 8B one on 1; every generation is scored
    by the reward model on 1 GPU; one CPU job loads nothing."""
    jobs = {}
    for lang in ("fr", "de"):
        for teacher, gpus in (("big", 4), ("small", 1)):
            jobs[f"generate_teacher-{lang}-{teacher}"] = _job(
                "generate_teacher", "arbitrage", gpus, {"teacher": _ref(f"o/{teacher}"), "seed": 1}
            )
            jobs[f"score_arbiter-{lang}-{teacher}"] = _job(
                "score_arbiter",
                "arbitrage",
                1,
                {"reward_model": _ref("o/rm"), "arbiter": {}},
                after=[f"generate_teacher-{lang}-{teacher}"],
            )
    jobs["build_pairs-fr"] = _job("build_pairs", "preference", 0, {"pairs": {}}, planned=0.0)
    return jobs


SIZES = {
    "o/big": {"size_b": 70.0, "key": "k.big", "inherited": False},
    "o/small": {"size_b": 8.0, "key": "k.small", "inherited": False},
    "o/rm": {"size_b": 10.0, "key": "k.rm", "inherited": False},
}


def test_loads_and_load_hours_of_two_languages_by_two_teachers():
    m = plan_loads(_two_by_two(), SIZES, ASSUME)
    t = m["total"]
    assert (t["jobs"], t["loads"]) == (8, 8)  # the CPU job that loads nothing is not counted
    hours = 2 * _hours(70, 4) + 2 * _hours(8, 1) + 4 * _hours(10, 1)
    assert t["gpu_hours"] == pytest.approx(hours, abs=1e-5)
    assert t["planned_gpu_hours"] == 8.0 and t["share"] == pytest.approx(hours / 8.0, abs=1e-5)
    assert m["phases"]["arbitrage"]["loads"] == 8 and m["phases"]["preference"]["loads"] == 0
    by_model = {x["location"]: x for x in m["models"]}
    assert by_model["o/big"]["loads"] == 2
    assert by_model["o/big"]["gpu_hours"] == pytest.approx(2 * _hours(70, 4), abs=1e-5)
    assert by_model["o/rm"]["loads"] == 4 and m["unknown_sizes"] == [] and t["unknown_jobs"] == 0
    # read bandwidth and start-up are the params' assumptions
    slow = plan_loads(_two_by_two(), SIZES, {**ASSUME, "read_gb_per_s": 1.0, "startup_s": 0.0})
    assert slow["total"]["gpu_hours"] == pytest.approx((2 * 140 * 4 + 2 * 16 + 4 * 20) / 3600, abs=1e-5)
    fp32 = plan_loads(_two_by_two(), SIZES, {**ASSUME, "weights_dtype": "float32", "startup_s": 0.0})
    assert fp32["assumptions"]["bytes_per_param"] == 4
    assert fp32["total"]["gpu_hours"] == pytest.approx(slow["total"]["gpu_hours"], abs=1e-5)  # 4 bytes at 2 GB/s


def test_batching_loads_each_model_once_per_rule_and_gpus():
    m = plan_loads(_two_by_two(), SIZES, ASSUME)
    t = m["total"]
    # one process per teacher for the generations, one for all four scorings
    assert t["batched_loads"] == 3 and t["loads_avoided"] == 5
    saved = _hours(70, 4) + _hours(8, 1) + 3 * _hours(10, 1)
    assert t["gpu_hours_saved"] == pytest.approx(saved, abs=1e-5)
    big = next(b for b in m["batches"] if b["models"] == ["o/big"])
    assert (big["rule"], big["jobs"], big["processes"], big["loads"], big["batched_loads"]) == (
        "generate_teacher",
        2,
        1,
        2,
        1,
    )
    assert m["batches"][0] == big  # the largest saving first


def test_a_chain_of_dependent_jobs_needs_one_process_per_link_and_training_jobs_keep_their_own():
    rm, built = _ref("o/rm"), ["ck/1", "ck/2"]
    jobs = {
        "score_policy-1-fr": _job("score_policy", "online", 1, {"reward_model": rm}),
        "score_policy-1-de": _job("score_policy", "online", 1, {"reward_model": rm}),
        "train-1": _job(
            "train_online_dpo",
            "online",
            8,
            {"training": {"beta": 0.1, "lora": None}, "_writes": ["ck/1"]},
            inputs=[("policy", "ck/0"), ("reference", "ck/0")],
            after=["score_policy-1-fr", "score_policy-1-de"],
            built=[*built, "ck/0"],
        ),
        "score_policy-2-fr": _job("score_policy", "online", 1, {"reward_model": rm}, after=["train-1"]),
        "train-2": _job(
            "train_online_dpo",
            "online",
            8,
            {"training": {"beta": 0.1, "lora": None}, "_writes": ["ck/2"]},
            inputs=[("policy", "ck/1"), ("reference", "ck/0")],
            after=["score_policy-2-fr"],
            built=[*built, "ck/0"],
        ),
    }
    sizes = {**SIZES, **{c: {"size_b": 8.0, "key": "k.base", "inherited": True} for c in ("ck/0", "ck/1")}}
    m = plan_loads(jobs, sizes, ASSUME)
    rm_batch = next(b for b in m["batches"] if b["rule"] == "score_policy")
    assert (rm_batch["jobs"], rm_batch["processes"]) == (3, 2)  # iteration 2 waits for iteration 1's training
    assert rm_batch["gpu_hours_saved"] == pytest.approx(_hours(10, 1), abs=1e-5)
    train = [b for b in m["batches"] if b["rule"] == "train_online_dpo"]
    assert sorted(b["jobs"] for b in train) == [1, 1] and all(b["gpu_hours_saved"] == 0 for b in train)
    # a DPO job loads its policy and its reference; start-up is paid once per job
    assert m["total"]["loads"] == 3 + 2 + 2
    assert m["phases"]["online"]["gpu_hours"] == pytest.approx(
        3 * _hours(10, 1) + 2 * (_hours(8, 8) + _hours(8, 8, 0)), abs=1e-5
    )


def test_what_a_job_loads():
    built = {"results/s/checkpoints/f/sft", "results/s/checkpoints/f/dpo"}.__contains__
    # a reference under its param name; a checkpoint input no reference names, under its input's name
    assert job_models(
        {"model": _ref("o/base"), "seed": 1, "generation": {"location": 1}},
        [("prompts", "results/s/prompts/fr.parquet")],
        built,
    ) == [{"role": "model", "location": "o/base", "load": {"use_safetensors": True}}]
    sft = job_models({"load": {}}, [("pairs", "p.parquet"), ("sft", "results/s/checkpoints/f/sft")], built)
    assert sft == [{"role": "sft", "location": "results/s/checkpoints/f/sft", "load": None}]
    # offline DPO: the SFT model is the policy and, loaded a second time, the reference
    dpo = {"beta": 0.1, "lora": None}
    assert [(x["role"], x["location"]) for x in model_loads(sft, dpo)] == [
        ("sft", "results/s/checkpoints/f/sft"),
        ("reference", "results/s/checkpoints/f/sft"),
    ]
    # with LoRA trl uses the adapter-free policy as reference; the adapter is folded into a fresh load
    lora = {**dpo, "lora": {"r": 16}}
    assert [x["role"] for x in model_loads(sft, lora)] == ["sft", "lora merge"]
    assert [x["role"] for x in model_loads(sft, {"lr": 1e-5, "lora": None})] == ["sft"]  # SFT: no reference
    # online iteration 1: the DPO model is both inputs, and both are loaded
    dpo_dir = "results/s/checkpoints/f/dpo"
    it1 = job_models({}, [("policy", dpo_dir), ("reference", dpo_dir)], built)
    assert [x["role"] for x in model_loads(it1, dpo)] == ["policy", "reference"]
    assert [x["role"] for x in model_loads(it1, lora)] == ["policy", "lora merge"]


def _params(mutate=None):
    data = copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text()))
    if mutate:
        mutate(data["scales"]["32b"])
    return validate(data, root=REPO)


def test_sizes_come_from_params_and_checkpoints_inherit_the_base_models():
    def sizes(s):
        s["base"]["size_b"] = 30.0
        s["teachers"]["llama33_70b"]["size_b"] = 70.0

    p = _params(sizes)
    built = ["results/32b/checkpoints/asian/sft", "results/32b/checkpoints/asian/online_it3", "results/32b/merged"]
    out = model_sizes(p, "32b", built)
    base = p.scales["32b"].base.hf
    assert out[base] == {"size_b": 30.0, "key": "scales.32b.base.size_b", "inherited": False}
    for path in built:
        assert out[path] == {"size_b": 30.0, "key": "scales.32b.base.size_b", "inherited": True}
    assert out[p.scales["32b"].teachers["llama33_70b"].hf]["size_b"] == 70.0
    judge = p.scales["32b"].eval.judge.model.hf
    assert out[judge]["key"] == "scales.32b.eval.judge.model.size_b"
    # size_b is planning data: it is not part of what a job's params carry (a reference's dump)
    assert "size_b" not in p.scales["32b"].base.model_dump()
    assert "size_b" not in p.scales["32b"].eval.judge.model_dump()["model"]


def test_a_model_without_size_b_is_unknown_never_guessed():
    def drop(s):
        s["teachers"]["llama33_70b"].pop("size_b", None)
        s["base"].pop("size_b", None)

    p = _params(drop)
    sizes = model_sizes(p, "32b", ["results/32b/merged"])
    llama = p.scales["32b"].teachers["llama33_70b"].hf  # a name with "70B" in it, and still unknown
    assert sizes[llama] == {"size_b": None, "key": "scales.32b.teachers.llama33_70b.size_b", "inherited": False}
    assert sizes["results/32b/merged"]["size_b"] is None
    jobs = {
        "gen": _job("generate_teacher", "arbitrage", 4, {"teacher": _ref(llama)}),
        "gen2": _job("generate_teacher", "arbitrage", 4, {"teacher": _ref(llama)}),
        "merge": _job(
            "merge_families",
            "merge",
            0,
            {},
            inputs=[("checkpoints", "results/32b/merged")],
            built=["results/32b/merged"],
        ),
        "rm": _job("score_arbiter", "arbitrage", 1, {"reward_model": _ref(p.scales["32b"].reward_model.hf)}),
    }
    m = plan_loads(jobs, sizes, ASSUME)
    rm_size = p.scales["32b"].reward_model.size_b
    assert m["total"]["gpu_hours"] == pytest.approx(_hours(rm_size, 1), abs=1e-5)  # only the known load counts
    assert m["total"]["unknown_jobs"] == 2  # the CPU merge spends no GPU time whatever its size
    assert m["unknown_sizes"] == [
        {"key": "scales.32b.base.size_b", "models": ["results/32b/merged"], "loads": 1, "gpu_loads": 0},
        {"key": "scales.32b.teachers.llama33_70b.size_b", "models": [llama], "loads": 2, "gpu_loads": 2},
    ]
    assert next(b for b in m["batches"] if b["models"] == [llama])["gpu_hours_saved"] == 0


LLAMA = "scales.32b.teachers.llama33_70b.size_b"


@pytest.mark.parametrize(
    "edit, expect",
    [
        (lambda s: s["teachers"]["llama33_70b"].update(size_b=-70), f"{LLAMA}: Input should be greater than 0"),
        (lambda s: s["teachers"]["llama33_70b"].update(size_b="70B"), f"{LLAMA}: Input should be a valid number"),
        (
            lambda s: s.update(model_load={"read_gb_per_s": 0}),
            "scales.32b.model_load.read_gb_per_s: Input should be greater than 0",
        ),
        (
            lambda s: s.update(model_load={"weights_dtype": "int4"}),
            "scales.32b.model_load.weights_dtype: Input should be",
        ),
        (lambda s: s.update(model_load={"bandwidth": 2}), "scales.32b.model_load.bandwidth: unknown key"),
    ],
)
def test_bad_sizes_and_load_assumptions_fail_in_one_line_naming_the_key(edit, expect):
    with pytest.raises(ConfigError) as e:
        _params(edit)
    assert str(e.value).startswith(f"params.yaml: {expect}") and "\n" not in str(e.value)


def test_two_sizes_for_one_model_are_refused():
    def judge_is_a_teacher(s):
        s["eval"]["judge"]["model"] = {**s["teachers"]["llama33_70b"], "size_b": 1.0}

    p = _params(judge_is_a_teacher)
    with pytest.raises(
        ConfigError,
        match=r"^params.yaml: scales.32b.eval.judge.model.size_b: 1.0 differs from "
        r"scales.32b.teachers.llama33_70b.size_b",
    ):
        model_sizes(p, "32b")
    assert ModelRef(hf="o/m").size_b is None


def test_the_32b_plan_prints_model_loads_consistent_with_its_jobs(tmp_path, shipped_params):
    out = subprocess.run(
        [sys.executable, "-m", "expanse.lineage", "plan", "--scale", "32b", "--json", str(tmp_path / "plan.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((tmp_path / "plan.json").read_text())
    m, s = result["model_loads"], shipped_params["scales"]["32b"]
    langs, teachers, res, assume = len(shipped_params["languages"]), s["teachers"], s["resources"], s["model_load"]
    bytes_per = {"bfloat16": 2, "float16": 2, "float32": 4}[assume["weights_dtype"]]

    def load_h(size_b, gpus):
        return (assume["startup_s"] + size_b * 1e9 * bytes_per / (assume["read_gb_per_s"] * 1e9)) / 3600 * gpus

    # arbitrage: every language x teacher is generated (generate class) and scored by the reward model
    arb = m["phases"]["arbitrage"]
    assert arb["loads"] == 2 * langs * len(teachers) and arb["batched_loads"] == len(teachers) + 1
    gen_h = sum(langs * load_h(t["size_b"], res["generate"]["gpu"]) for t in teachers.values())
    score_h = langs * len(teachers) * load_h(s["reward_model"]["size_b"], res["score"]["gpu"])
    assert arb["gpu_hours"] == pytest.approx(gen_h + score_h, abs=1e-3)
    big = max(teachers.values(), key=lambda t: t["size_b"])
    batch = next(b for b in m["batches"] if b["rule"] == "generate_teacher" and b["models"] == [big["hf"]])
    assert (batch["jobs"], batch["processes"]) == (langs, 1)
    per_job = load_h(big["size_b"], res["generate"]["gpu"])
    assert batch["gpu_hours_saved"] == pytest.approx((langs - 1) * per_job, abs=1e-3)
    # training: SFT loads the base; offline DPO its SFT model twice (policy and reference); nothing batched
    n_fam, its = len(shipped_params["families"]), s["online"]["iterations"]
    assert m["phases"]["sft"]["loads"] == n_fam and m["phases"]["preference"]["loads"] == 2 * n_fam
    assert m["phases"]["preference"]["gpu_hours"] == pytest.approx(
        n_fam
        * (
            load_h(s["base"]["size_b"], res["dpo"]["gpu"])
            + load_h(s["base"]["size_b"], res["dpo"]["gpu"])
            - assume["startup_s"] / 3600 * res["dpo"]["gpu"]
        ),
        abs=1e-3,
    )
    assert m["phases"]["preference"]["gpu_hours_saved"] == 0 and m["phases"]["sft"]["gpu_hours_saved"] == 0
    # online: per iteration a sample and a score per language, and a policy + reference per family
    assert m["phases"]["online"]["loads"] == its * (2 * langs + 2 * n_fam)
    assert m["unknown_sizes"] == [] and m["total"]["unknown_jobs"] == 0
    t = m["total"]
    assert t["loads"] == sum(p["loads"] for p in m["phases"].values())
    assert t["gpu_hours"] == pytest.approx(sum(p["gpu_hours"] for p in m["phases"].values()), abs=1e-3)
    assert t["planned_gpu_hours"] == result["summary"]["total"]["planned_gpu_hours"]
    assert 0 < t["gpu_hours_saved"] < t["gpu_hours"]
    assert t["share"] == pytest.approx(t["gpu_hours"] / t["planned_gpu_hours"])
    # the printed lines say the same
    text = out.stdout
    assert (
        f"model loads: {t['loads']} in {t['jobs']} jobs, {t['gpu_hours']:.1f} GPU-hours loading "
        f"({100 * t['share']:.1f}% of the planned {t['planned_gpu_hours']:.1f})" in text
    )
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if len(line.split()) == 6}
    assert rows["arbitrage"][:2] == [str(arb["loads"]), f"{arb['gpu_hours']:.1f}"]
    assert rows["total"] == [
        str(t["loads"]),
        f"{t['gpu_hours']:.1f}",
        f"{100 * t['share']:.1f}%",
        str(t["batched_loads"]),
        f"{t['gpu_hours_saved']:.1f}",
    ]
    assert (
        f"{t['loads']} -> {t['batched_loads']} loads, {t['loads_avoided']} avoided, "
        f"{t['gpu_hours_saved']:.1f} GPU-hours saved" in text
    )
    assert f"generate_teacher   {big['hf']}" in text and "models of unknown size: none" in text
