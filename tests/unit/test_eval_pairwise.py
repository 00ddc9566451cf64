"""Pairwise judging end to end on files, with real models: the LLM judge (a tiny random Cohere model
served by the transformers backend: it never writes a verdict, so every comparison is an unparsed
tie) and the reward-model judge (a tiny sequence classifier), plus the best-teacher pick."""

import json

import polars as pl
import pytest

from expanse.errors import DataError
from expanse.evaluation.config import JudgeCfg
from expanse.evaluation.pairwise import best_teacher, judge_language
from expanse.generation.config import GenerationCfg
from expanse.io import write_parquet
from expanse.models import register_cohere_sequence_classification
from expanse.schema import ModelSource
from expanse.tiny.corpus import build_corpus
from expanse.tiny.pretraining import cohere_config
from expanse.tiny.tokenizer import train_tokenizer

GEN = {
    "backend": "transformers",
    "max_new_tokens": 8,
    "min_new_tokens": 0,
    "temperature": 0.0,
    "top_p": 1.0,
    "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "batch_size": 4,
    "dtype": "float32",
}
LOAD = {"use_safetensors": True, "trust_remote_code": False}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, CohereForCausalLM

    d = tmp_path_factory.mktemp("judges")
    build_corpus(["fr"], str(d / "corpus.parquet"), seed=1, heldout_fraction=0.1)
    train_tokenizer(str(d / "corpus.parquet"), str(d / "tok"), vocab_size=512, min_frequency=2)
    tok = AutoTokenizer.from_pretrained(d / "tok")
    cfg = cohere_config({"hidden": 32, "ffn": 64, "layers": 1, "heads": 2, "kv_heads": 1}, tok)
    torch.manual_seed(0)
    CohereForCausalLM(cfg).save_pretrained(d / "lm")
    tok.save_pretrained(d / "lm")
    register_cohere_sequence_classification()
    from transformers import AutoModelForSequenceClassification

    rm = AutoModelForSequenceClassification.from_config(cfg.__class__(**{**cfg.to_dict(), "num_labels": 1}))
    rm.save_pretrained(d / "rm")
    tok.save_pretrained(d / "rm")
    return {"lm": str(d / "lm"), "rm": str(d / "rm")}


@pytest.fixture
def files(tmp_path):
    ids = [f"fr-eval-{i}" for i in range(3)]
    prompts = pl.DataFrame(
        {
            "id": ids + ["fr-0"],
            "lang": ["fr"] * 4,
            "prompt": ["Pourquoi le ciel est-il bleu ?", "Cite trois fruits.", "Bonjour !", "train"],
            "split": ["test"] * 3 + ["train"],
        }
    )
    write_parquet(prompts, tmp_path / "prompts.parquet", contract="prompts")
    answers = {
        "merged": ["La lumière se diffuse.", "Pomme, poire, prune.", "Bonjour, comment allez-vous ?"],
        "base": ["de de de", "la la", "Bo"],
        "teacher.x": ["Blue.", "Apple.", "Hello."],
    }
    paths = {}
    for model, texts in answers.items():
        rows = pl.DataFrame(
            {
                "prompt_id": list(reversed(ids)),
                "lang": "fr",
                "model": model,
                "sample": 0,
                "completion": list(reversed(texts)),
                "n_tokens": 3,
                "finish_reason": "stop",
            }
        )
        write_parquet(rows, tmp_path / f"{model}.parquet", contract="generations")
        paths[model] = str(tmp_path / f"{model}.parquet")
    return str(tmp_path / "prompts.parquet"), paths


def test_llm_judge_asks_both_orders_and_counts_unparsed_verdicts_as_ties(models, files):
    prompts, answers = files
    result, rows = judge_language(
        lang="fr",
        prompts_path=prompts,
        model="merged",
        answers=answers,
        opponents={"base": "base", "teacher.x": "teacher.x", "best_teacher": "teacher.x"},
        judge=JudgeCfg(method="llm", model={"path": "lm"}, max_new_tokens=8, batch_size=4),
        judge_model=ModelSource(location=models["lm"], load=LOAD),
        generation=GenerationCfg.model_validate(GEN),
        bootstrap=100,
        seed=0,
    )
    assert result["unparsed_verdicts"] == 2 * 3 * 2  # 2 orders x 3 prompts x 2 distinct opponents
    assert result["opponents"]["best_teacher"] == result["opponents"]["teacher.x"]
    assert all(o["win_rate"] == 0.5 and o["ties"] == 6 for o in result["opponents"].values())
    assert len(rows) == 12 and {r["order"] for r in rows} == {"model_first", "model_second"}


def test_reward_model_judge_is_consistent_across_orders(models, files):
    prompts, answers = files
    result, rows = judge_language(
        lang="fr",
        prompts_path=prompts,
        model="merged",
        answers=answers,
        opponents={"base": "base"},
        judge=JudgeCfg(method="reward_model", max_new_tokens=8, batch_size=4),
        judge_model=ModelSource(location=models["rm"], load=LOAD),
        generation=GenerationCfg.model_validate(GEN),
        bootstrap=100,
        seed=0,
    )
    first = [r["verdict"] for r in rows if r["order"] == "model_first"]
    second = [r["verdict"] for r in rows if r["order"] == "model_second"]
    mirror = {"A": "B", "B": "A", "tie": "tie"}
    assert second == [mirror[v] for v in first]  # a pointwise judge has no position bias
    expected = (sum(v == "A" for v in first) + sum(v == "tie" for v in first) / 2) / 3
    assert result["opponents"]["base"]["win_rate"] == pytest.approx(expected, abs=1e-6)
    assert result["unparsed_verdicts"] == 0


def test_missing_answers_name_the_file(models, files, tmp_path):
    prompts, answers = files
    pl.read_parquet(answers["base"]).head(2).write_parquet(tmp_path / "short.parquet")
    with pytest.raises(DataError, match=r"short.parquet: no answer for test prompt 'fr-eval-\d' \(1 missing\)"):
        judge_language(
            lang="fr",
            prompts_path=prompts,
            model="merged",
            answers={**answers, "base": str(tmp_path / "short.parquet")},
            opponents={"base": "base"},
            judge=JudgeCfg(method="reward_model", max_new_tokens=8, batch_size=4),
            judge_model=ModelSource(location=models["rm"], load=LOAD),
            generation=GenerationCfg.model_validate(GEN),
            bootstrap=10,
            seed=0,
        )


def test_best_teacher_is_the_arbitrage_winner(tmp_path):
    def record(wins, mean):
        return {"wins": wins, "mean_score": mean, "lang_ok_rate": 1.0, "mean_score_on_selected_prompts": None}

    table = {"lang": "fr", "n_prompts": 13, "n_selected": 13, "n_no_valid_completion": 0, "selected_mean_score": 0.2}
    wins = table | {"teachers": {"a": record(3, 0.1), "b": record(5, -1.0), "c": record(5, 0.2)}}
    (tmp_path / "w.json").write_text(json.dumps(wins))
    assert best_teacher(str(tmp_path / "w.json")) == "c"  # most wins, then the higher mean score
    (tmp_path / "e.json").write_text(json.dumps(table | {"teachers": {}}))
    with pytest.raises(DataError, match="e.json: no teachers"):
        best_teacher(str(tmp_path / "e.json"))
