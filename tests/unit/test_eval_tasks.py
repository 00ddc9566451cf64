"""The tiny benchmarks: the shipped items (the same in all 23 languages), the lm-eval task YAMLs
loading through lm-eval's TaskManager, and lm-eval scoring a known model output through them."""

import json
import re

import pytest

from expanse.errors import DataError
from expanse.evaluation.benchmarks import extract, sample_count, task_names
from expanse.languages import LANGUAGES
from shrink import REPO

TASKS = REPO / "data/eval/lm_eval"


def _items(kind, lang):
    return [json.loads(line) for line in (REPO / f"data/eval/{kind}/{lang}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_items_are_the_same_in_every_language():
    mmlu_en, mgsm_en = _items("mmlu", "en"), _items("mgsm", "en")
    assert len(mmlu_en) == 16 and len(mgsm_en) == 12
    assert sorted(i["answer"] for i in mmlu_en) == sorted("ABCD" * 4)  # balanced letters
    for lang in LANGUAGES:
        mmlu, mgsm = _items("mmlu", lang), _items("mgsm", lang)
        assert [i["answer"] for i in mmlu] == [i["answer"] for i in mmlu_en], lang
        assert [i["id"] for i in mmlu] == [f"{lang}-mmlu-{k:02d}" for k in range(1, 17)]
        assert [i["answer_number"] for i in mgsm] == [i["answer_number"] for i in mgsm_en], lang
        for item in mgsm:
            assert eval(item["equation"], {"__builtins__": {}}) == item["answer_number"]  # noqa: S307
            numbers = set(re.findall(r"\d+", item["question"]))
            assert numbers == set(re.findall(r"\d+", mgsm_en[int(item["id"][-2:]) - 1]["question"])), item["id"]


def test_every_language_has_both_task_yamls():
    for lang in LANGUAGES:
        for kind in ("mmlu", "mgsm"):
            text = (TASKS / f"expanse_{kind}_{lang}.yaml").read_text()
            assert f"task: expanse_{kind}_{lang}\n" in text and f"data/eval/{kind}/{lang}.jsonl" in text


@pytest.fixture(scope="module")
def manager():
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASKS), include_defaults=False)


def test_task_yamls_load_through_lm_eval(manager, monkeypatch):
    monkeypatch.chdir(REPO)  # data_files are relative to the repository root
    tasks = manager.load(["expanse_mmlu_ja", "expanse_mgsm_ar"])["tasks"]
    mmlu, mgsm = tasks["expanse_mmlu_ja"], tasks["expanse_mgsm_ar"]
    docs = list(mmlu.test_docs())
    assert len(docs) == 16 and mmlu.doc_to_choice(docs[0]) == ["A", "B", "C", "D"]
    assert mmlu.doc_to_text(docs[0]).endswith("\nAnswer:") and "\nD. " in mmlu.doc_to_text(docs[0])
    assert mmlu.doc_to_target(docs[0]) == docs[0]["answer"]
    gdocs = list(mgsm.test_docs())
    assert len(gdocs) == 12 and mgsm.doc_to_target(gdocs[0]) == str(gdocs[0]["answer_number"])


class ScriptedLM:
    """A model whose outputs we know: right on the documents `right(doc)` picks, wrong elsewhere."""

    def __new__(cls, right):
        from lm_eval.api.model import LM

        class _LM(LM):
            def loglikelihood(self, requests):
                out = []
                for req in requests:
                    _, continuation = req.args
                    correct = continuation.strip() == req.doc["answer"]
                    out.append((0.0 if correct == right(req.doc) else -5.0, False))
                return out

            def generate_until(self, requests):
                return [f" so the result is {r.doc['answer_number'] if right(r.doc) else r.doc['answer_number'] + 1}."
                        for r in requests]

            def loglikelihood_rolling(self, requests):
                raise NotImplementedError

        return _LM()


def test_lm_eval_scores_a_known_model_output(manager, monkeypatch):
    import lm_eval

    monkeypatch.chdir(REPO)
    right = lambda doc: int(doc["id"][-2:]) % 4 == 1  # noqa: E731  items 01, 05, 09 (13): 4 of 16, 3 of 12
    tasks = {"fr": "expanse_mmlu_fr", "ko": "expanse_mmlu_ko"}
    results = lm_eval.simple_evaluate(model=ScriptedLM(right), tasks=list(tasks.values()), task_manager=manager,
                                      log_samples=False, bootstrap_iters=0)
    got = extract(results, tasks, "acc,none")
    assert got["fr"]["value"] == got["ko"]["value"] == 4 / 16 and got["fr"]["n"] == 16
    results = lm_eval.simple_evaluate(model=ScriptedLM(right), tasks=["expanse_mgsm_vi"], task_manager=manager,
                                      log_samples=False, bootstrap_iters=0)
    got = extract(results, {"vi": "expanse_mgsm_vi"}, "exact_match,flexible-extract")
    assert got["vi"]["value"] == 0.25 and got["vi"]["n"] == 12  # 3 of 12
    with pytest.raises(DataError, match="lm-eval task 'expanse_mgsm_vi': no metric 'acc,none'.*exact_match,flexible-extract"):
        extract(results, {"vi": "expanse_mgsm_vi"}, "acc,none")


def test_task_names_and_group_sample_counts():
    bench = {"tasks": "mgsm_direct_{lang}", "languages": ["de", "fr", "ja"]}
    assert task_names(bench, ["fr", "es", "de"]) == {"fr": "mgsm_direct_fr", "de": "mgsm_direct_de"}
    assert task_names({"tasks": "global_mmlu_full_{lang}", "languages": None}, ["fr"]) == {"fr": "global_mmlu_full_fr"}
    results = {"n-samples": {"a_stem": {"effective": 10}, "a_other": {"effective": 5}},
               "group_subtasks": {"a": ["a_stem", "a_other"]}}
    assert sample_count(results, "a") == 15 and sample_count(results, "a_stem") == 10
    assert sample_count(results, "b") is None
