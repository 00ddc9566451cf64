"""The tiny arbitrage graph, run for real with Snakemake on a shrunken copy of params.yaml
(6 languages, 3 teachers, few steps), then checked artifact by artifact."""

from __future__ import annotations

import json

import polars as pl
import pytest
from shrink import TEST_LANGUAGES, family_of
from smk import params_of, planned_jobs, snakemake, write_params

pytestmark = pytest.mark.workflow


def test_artifacts_follow_the_contracts_and_the_selection_is_right(built):
    p = params_of(built)
    teachers = list(p["scales"]["tiny"]["teachers"])
    min_lang_prob = p["scales"]["tiny"]["arbiter"]["min_lang_prob"]
    min_margin = p["scales"]["tiny"]["pairs"]["min_margin"]
    res = built / "results/tiny"
    for lang in TEST_LANGUAGES:
        prompts = pl.read_parquet(res / f"prompts/{lang}.parquet")
        assert prompts.columns == ["id", "lang", "prompt", "split"]
        assert set(prompts["split"]) <= {"train", "dev", "test"} and (prompts["lang"] == lang).all()
        n_train = prompts.filter(pl.col("split") == "train").height
        assert n_train == p["scales"]["tiny"]["prompts"]["max_train"]
        n_gen = prompts.filter(pl.col("split") != "test").height  # train and dev (dev measures training)
        assert prompts.filter(pl.col("split") == "test").height >= 10
        all_scores = []
        for t in teachers:
            gen = pl.read_parquet(res / f"generations/{lang}/{t}.parquet")
            assert gen.columns == ["prompt_id", "lang", "model", "sample", "completion", "n_tokens", "finish_reason"]
            assert gen.height == n_gen and (gen["model"] == t).all()
            assert set(gen["finish_reason"]) <= {"stop", "length"} and (gen["n_tokens"] > 0).any()
            sc = pl.read_parquet(res / f"scores/{lang}/{t}.parquet")
            assert sc.columns == gen.columns + ["reward", "lang_prob", "lang_ok", "score"]
            assert sc.select(gen.columns).equals(gen)
            assert ((sc["lang_prob"] >= 0) & (sc["lang_prob"] <= 1)).all()
            assert (sc["lang_ok"] == (sc["lang_prob"] >= min_lang_prob)).all()
            all_scores.append(sc)
        scores = pl.concat(all_scores)
        sft = pl.read_parquet(res / f"arbitrage/{lang}.parquet")
        assert sft.columns == ["prompt_id", "lang", "prompt", "completion", "teacher", "score", "margin"]
        for row in sft.iter_rows(named=True):
            cands = scores.filter(pl.col("prompt_id") == row["prompt_id"])
            assert row["score"] == cands.filter(pl.col("lang_ok"))["score"].max()
            assert cands.filter((pl.col("model") == row["teacher"]) & pl.col("lang_ok"))["completion"].to_list() == [
                row["completion"]
            ]
        no_valid = scores.group_by("prompt_id").agg(pl.col("lang_ok").any()).filter(~pl.col("lang_ok")).height
        assert sft.height == n_gen - no_valid
        wins = json.loads((res / f"arbitrage/{lang}.wins.json").read_text())
        assert sum(v["wins"] for v in wins["teachers"].values()) == wins["n_selected"] == sft.height
        pairs = pl.read_parquet(res / f"pairs/offline/{lang}.parquet")
        assert pairs.columns == [
            "prompt_id",
            "lang",
            "prompt",
            "chosen",
            "rejected",
            "chosen_score",
            "rejected_score",
            "origin",
        ]
        for row in pairs.iter_rows(named=True):
            rej = scores.filter((pl.col("prompt_id") == row["prompt_id"]) & (pl.col("completion") == row["rejected"]))
            assert row["chosen"] != row["rejected"]
            assert (not rej["lang_ok"][0]) or row["chosen_score"] - row["rejected_score"] >= min_margin


def test_each_teacher_wins_on_its_own_languages(built):
    p = params_of(built)
    result = json.loads((built / "results/tiny/models/teacher_heldout_loss.json").read_text())
    for teacher, ref in p["scales"]["tiny"]["teachers"].items():
        own = [c for c in ref["tiny"]["languages"] if c in TEST_LANGUAGES]
        assert own
        for lang in own:
            assert result["best"][lang] == teacher, (lang, result["loss"])
            assert result["loss"][teacher][lang] < result["loss"]["base"][lang]


def test_tiny_models_are_aya_architecture_in_safetensors(built):
    models = built / "results/tiny/models"
    for d in [models / "base", *sorted((models / "teachers").iterdir()), models / "reward_model"]:
        cfg = json.loads((d / "config.json").read_text())
        assert cfg["model_type"] == "cohere" and cfg["use_qk_norm"] is False and cfg["tie_word_embeddings"]
        assert (d / "model.safetensors").exists() and not list(d.glob("*.bin"))
        assert (d / "tokenizer.json").exists() and (d / "README.md").exists() and (d / "expanse_config.json").exists()
    rm = json.loads((models / "reward_model/config.json").read_text())
    assert rm["architectures"] == ["CohereForSequenceClassification"] and len(rm["id2label"]) == 1


def test_reward_model_really_learned(built):
    metrics = json.loads((built / "results/tiny/models/reward_model/metrics.json").read_text())
    assert metrics["train_loss"][-1] < metrics["train_loss"][0]
    acc = json.loads((built / "results/tiny/models/arbiter_accuracy.json").read_text())
    assert acc["n_pairs"] > 0 and set(acc["accuracy"]) == {"reward_model", "language_fidelity", "combined"}
    assert acc["accuracy"]["reward_model"] > 0.6  # chance is 0.5
    assert acc["by_kind"]["language_fidelity"]["wrong_language"] > 0.8


def test_second_run_has_nothing_to_do(built):
    assert planned_jobs(built) == []


def test_rerun_is_byte_identical(built_copy):
    paths = [
        "results/tiny/prompts/fr.parquet",
        "results/tiny/generations/fr/euro.parquet",
        "results/tiny/scores/fr/euro.parquet",
        "results/tiny/corpus.parquet",
    ]
    before = {p: (built_copy / p).read_bytes() for p in paths}
    snakemake(
        built_copy,
        "-c2",
        "--forcerun",
        "build_corpus",
        "prepare_prompts",
        "generate_teacher",
        "score_arbiter",
        "--allowed-rules",
        "build_corpus",
        "prepare_prompts",
        "generate_teacher",
        "score_arbiter",
        "--",
        *paths,
    )
    for p in paths:
        assert (built_copy / p).read_bytes() == before[p], p


TRAINING_RULES = {"train_sft", "train_dpo", "sample_policy", "score_policy", "build_online_pairs", "train_online_dpo"}
EVAL_RULES = {"generate_eval", "judge_pairwise", "run_benchmark", "lineage", "eval_report"}


def _scope(jobs):
    """Languages of the per-language arbitrage jobs, families of the training jobs, and every rule
    planned. The only jobs with neither are the scale's summaries."""
    assert {r for r, w in jobs if "lang" not in w and "family" not in w} <= {
        "summarize_arbitrage",
        "summarize_training",
        "search_merge_weights",
        "merge_families",
        "run_benchmark",
        "lineage",
        "eval_report",
    }
    langs = {w["lang"] for r, w in jobs if "lang" in w and r not in TRAINING_RULES | EVAL_RULES}
    return langs, {w["family"] for _, w in jobs if "family" in w}, {r for r, _ in jobs}


def test_editing_one_prompt_file_rebuilds_only_that_language_and_its_family(built_copy):
    f = built_copy / "data/prompts/fr.jsonl"
    f.write_text(f.read_text().replace('"fr-001"', '"fr-001b"', 1))
    p = params_of(built_copy)
    family = family_of(p, "fr")
    jobs = planned_jobs(built_copy)
    langs, families, rules = _scope(jobs)
    assert langs == {"fr"} and families == {family}
    assert rules == {
        "prepare_prompts",
        "generate_teacher",
        "score_arbiter",
        "select_arbitrage",
        "build_pairs",
        "summarize_arbitrage",
        *TRAINING_RULES,
        "summarize_training",
        "search_merge_weights",
        "merge_families",
        *EVAL_RULES,
    }
    n_family = sum(family_of(p, lang) == family for lang in TEST_LANGUAGES)
    iterations = p["scales"]["tiny"]["online"]["iterations"]
    arbitrage = 1 + 3 + 3 + 1 + 1 + 1
    training = 2 + iterations * (3 * n_family + 1) + 1  # sft, dpo; per iteration sample/score/pairs + train
    # eval: the merged model answers again everywhere, the family's model on its languages, no other
    # model (the test prompts come from the eval file alone: fr's are not re-prepared); every
    # language is judged again; the benchmarks of the merged and the family model rerun; lineage and
    # the report
    family_langs = {c for c in TEST_LANGUAGES if family_of(p, c) == family}
    answers = {(c, "merged") for c in TEST_LANGUAGES} | {(c, f"family.{family}") for c in family_langs}
    assert {(w["lang"], w["model"]) for r, w in jobs if r == "generate_eval"} == answers
    assert {w["lang"] for r, w in jobs if r == "judge_pairwise"} == set(TEST_LANGUAGES)
    assert {(w["bench"], w["model"]) for r, w in jobs if r == "run_benchmark"} == {
        (b, m) for b in ("global_mmlu", "mgsm") for m in ("merged", f"family.{family}")
    }
    evaluation = len(answers) + len(TEST_LANGUAGES) + 4 + 2
    assert len(jobs) == arbitrage + training + 2 + evaluation  # + the merge search and the merge
    # the whole family resamples (its policy changed), every language of it, nothing outside it
    assert {w["lang"] for r, w in jobs if r == "sample_policy"} == {
        c for c in TEST_LANGUAGES if family_of(p, c) == family
    }


def test_editing_one_language_entry_in_params_rebuilds_only_that_language(built_copy):
    p = params_of(built_copy)
    old = family_of(p, "fr")
    p["languages"]["fr"]["family"] = "asian"
    write_params(built_copy, p)
    langs, families, rules = _scope(planned_jobs(built_copy))
    assert langs == {"fr"} and families == {old, "asian"} and "pretrain_base" not in rules


def test_editing_one_teacher_rebuilds_only_that_teachers_jobs(built_copy):
    p = params_of(built_copy)
    p["scales"]["tiny"]["teachers"]["euro"]["tiny"]["steps"] += 1
    write_params(built_copy, p)
    jobs = planned_jobs(built_copy)
    teachers = {w["teacher"] for r, w in jobs if "teacher" in w}
    assert teachers == {"euro"}
    assert {w["model"] for r, w in jobs if r == "generate_eval" and w["model"].startswith("teacher.")} == {
        "teacher.euro"
    }
    rules = {r for r, _ in jobs}
    assert rules == {
        "pretrain_teacher",
        "generate_teacher",
        "score_arbiter",
        "select_arbitrage",
        "build_pairs",
        "summarize_arbitrage",
        "measure_teacher_loss",
        *TRAINING_RULES,
        "summarize_training",
        "search_merge_weights",
        "merge_families",
        *EVAL_RULES,
    }
    assert sum(r == "generate_teacher" for r, _ in jobs) == len(TEST_LANGUAGES)


def test_bad_prompt_file_fails_with_file_and_line(built_copy):
    f = built_copy / "data/prompts/es.jsonl"
    lines = f.read_text().splitlines()
    lines[2] = '{"id": "es-003", "prompt": '
    f.write_text("\n".join(lines) + "\n")
    before = (built_copy / "results/tiny/prompts/es.parquet").read_bytes()
    proc = snakemake(built_copy, "-c1", "results/tiny/prompts/es.parquet", check=False)
    assert proc.returncode != 0
    assert "error: data/prompts/es.jsonl:3: invalid JSON" in proc.stderr
    # the failed job's output is removed by Snakemake; no half-written file stays behind
    assert (
        not (built_copy / "results/tiny/prompts/es.parquet").exists()
        or (built_copy / "results/tiny/prompts/es.parquet").read_bytes() == before
    )
    assert not list((built_copy / "results/tiny/prompts").glob(".*tmp"))


def test_learned_routing_asks_only_the_probe_winners_for_the_rest(built_copy):
    """routing: learned on one language: every teacher answers the probe, the probe's winner alone
    answers the rest, the SFT set is selected from both, and generate_teacher never runs."""
    p = params_of(built_copy)
    teachers = list(p["scales"]["tiny"]["teachers"])
    p["scales"]["tiny"]["arbitrage"] = {"routing": "learned", "probe_fraction": 0.25, "min_probe": 4, "top_k": 1}
    write_params(built_copy, p)
    before = {t: (built_copy / f"results/tiny/generations/fr/{t}.parquet").stat().st_mtime_ns for t in teachers}
    jobs = planned_jobs(built_copy, "results/tiny/arbitrage/fr.parquet")
    assert sorted(r for r, _ in jobs) == sorted(
        ["generate_probe"] * 3
        + ["score_probe"] * 3
        + ["route_teachers", "generate_routed", "score_routed", "select_arbitrage"]
    )
    snakemake(built_copy, "-c2", "results/tiny/arbitrage/fr.parquet")
    res = built_copy / "results/tiny"
    prompts = pl.read_parquet(res / "prompts/fr.parquet").filter(pl.col("split") != "test")
    decision = json.loads((res / "routing/fr.json").read_text())
    probe = decision["probe_ids"]
    assert len(probe) == max(4, -(-prompts.height // 4)) and set(probe) < set(prompts["id"])
    probe_scores = pl.concat([pl.read_parquet(res / f"routing/probe/fr/{t}.scores.parquet") for t in teachers])
    assert sorted(probe_scores["prompt_id"].unique()) == probe and probe_scores.height == len(probe) * len(teachers)
    # the selected teacher is the one with most probe wins (best valid completion per prompt)
    best = (
        probe_scores.filter(pl.col("lang_ok"))
        .sort(["prompt_id", "score", "model"], descending=[False, True, False])
        .group_by("prompt_id", maintain_order=True)
        .first()["model"]
        .to_list()
    )
    assert decision["selected"] == [max(sorted(teachers), key=best.count)]
    rest = pl.read_parquet(res / "routing/rest/fr.scores.parquet")
    assert set(rest["model"]) == set(decision["selected"])
    assert sorted(rest["prompt_id"]) == sorted(set(prompts["id"]) - set(probe))
    made = len(probe) * len(teachers) + rest.height
    assert decision["generations"] == made and decision["generations_all"] == prompts.height * len(teachers)
    assert decision["saved_fraction"] == pytest.approx(1 - made / (prompts.height * len(teachers)), abs=1e-6)
    sft = pl.read_parquet(res / "arbitrage/fr.parquet")
    assert set(sft.filter(~pl.col("prompt_id").is_in(probe))["teacher"]) <= set(decision["selected"])
    wins = json.loads((res / "arbitrage/fr.wins.json").read_text())
    assert wins["n_prompts"] == prompts.height and wins["n_selected"] == sft.height
    assert before == {t: (res / f"generations/fr/{t}.parquet").stat().st_mtime_ns for t in teachers}
    # the report shows the decision (the rest of the graph is not run here: it is planned)
    plan = planned_jobs(built_copy, "all")
    assert sum(r == "route_teachers" for r, _ in plan) == len(TEST_LANGUAGES) - 1
    assert "generate_teacher" not in {r for r, _ in plan}
