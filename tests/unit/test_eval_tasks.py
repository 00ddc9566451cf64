"""The tiny benchmarks: the shipped items (the same in all 23 languages), the lm-eval task YAMLs
loading through lm-eval's TaskManager, and lm-eval scoring a known model output through them."""

import json
import re

import pytest
from shrink import REPO

from expanse.errors import DataError
from expanse.evaluation.benchmarks import check_task_folder, extract, sample_count, task_names
from expanse.evaluation.config import BenchmarkCfg
from expanse.languages import LANGUAGES

TASKS = REPO / "data/eval/lm_eval"


def _items(kind, lang):
    return [
        json.loads(line) for line in (REPO / f"data/eval/{kind}/{lang}.jsonl").read_text(encoding="utf-8").splitlines()
    ]


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
                return [
                    f" so the result is {r.doc['answer_number'] if right(r.doc) else r.doc['answer_number'] + 1}."
                    for r in requests
                ]

            def loglikelihood_rolling(self, requests):
                raise NotImplementedError

        return _LM()


def test_lm_eval_scores_a_known_model_output(manager, monkeypatch):
    import lm_eval

    monkeypatch.chdir(REPO)
    right = lambda doc: int(doc["id"][-2:]) % 4 == 1  # noqa: E731  items 01, 05, 09 (13): 4 of 16, 3 of 12
    tasks = {"fr": "expanse_mmlu_fr", "ko": "expanse_mmlu_ko"}
    results = lm_eval.simple_evaluate(
        model=ScriptedLM(right), tasks=list(tasks.values()), task_manager=manager, log_samples=False, bootstrap_iters=0
    )
    got = extract(results, tasks, "acc,none")
    assert got["fr"]["value"] == got["ko"]["value"] == 4 / 16 and got["fr"]["n"] == 16
    results = lm_eval.simple_evaluate(
        model=ScriptedLM(right), tasks=["expanse_mgsm_vi"], task_manager=manager, log_samples=False, bootstrap_iters=0
    )
    got = extract(results, {"vi": "expanse_mgsm_vi"}, "exact_match,flexible-extract")
    assert got["vi"]["value"] == 0.25 and got["vi"]["n"] == 12  # 3 of 12
    with pytest.raises(
        DataError, match="lm-eval task 'expanse_mgsm_vi': no metric 'acc,none'.*exact_match,flexible-extract"
    ):
        extract(results, {"vi": "expanse_mgsm_vi"}, "acc,none")


def test_task_names_and_group_sample_counts():
    bench = BenchmarkCfg(tasks="mgsm_direct_{lang}", metric="acc,none", languages=["de", "fr", "ja"])
    assert task_names(bench, ["fr", "es", "de"]) == {"fr": "mgsm_direct_fr", "de": "mgsm_direct_de"}
    every = BenchmarkCfg(tasks="global_mmlu_full_{lang}", metric="acc,none")
    assert task_names(every, ["fr"]) == {"fr": "global_mmlu_full_fr"}
    results = {
        "n-samples": {"a_stem": {"effective": 10}, "a_other": {"effective": 5}},
        "group_subtasks": {"a": ["a_stem", "a_other"]},
    }
    assert sample_count(results, "a") == 15 and sample_count(results, "a_stem") == 10
    assert sample_count(results, "b") is None


# ---- task folders: inside the repository, and no task file that runs code unless params opt in
def _folder(root, files: dict[str, str]):
    for name, text in files.items():
        (root / "tasks" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "tasks" / name).write_text(text)


TASK = "task: t_{n}\ndataset_path: json\n"


def test_the_shipped_task_folder_is_safe():
    assert check_task_folder("data/eval/lm_eval", root=REPO) == TASKS


@pytest.mark.parametrize(
    "files, allow, expect",
    [
        (
            {"t.yaml": TASK + "process_docs: !function utils.process_docs\n"},
            False,
            "include_path: tasks/t.yaml has a !function tag, which runs Python from the task folder; "
            "set allow_functions: true on this benchmark to allow it",
        ),
        ({"t.yaml": TASK + "doc_to_text: !<!function> utils.f\n"}, False, "tasks/t.yaml has a !function tag"),
        (
            {"t.yaml": "include: _tmpl\n" + TASK, "_tmpl": "doc_to_text: !function utils.f\n"},
            False,
            "tasks/_tmpl has a !function tag",
        ),
        ({"sub/t.yaml": TASK + "x: [1, {y: !function u.f}]\n"}, False, "tasks/sub/t.yaml has a !function tag"),
        (
            {"t.yaml": TASK + "process_results: !!python/name:os.system\n"},
            True,
            "tasks/t.yaml has the YAML tag 'tag:yaml.org,2002:python/name:os.system'",
        ),
        (
            {"t.yaml": "include: ../evil_yaml\n" + TASK},
            False,
            "tasks/t.yaml includes '../evil_yaml', which is outside the task folder",
        ),
        (
            {"t.yaml": "include: [_a_yaml, _missing_yaml]\n" + TASK, "_a_yaml": "x: 1\n"},
            False,
            "tasks/t.yaml includes '_missing_yaml', which is not a file",
        ),
        ({"t.yaml": "task: [unclosed\n"}, False, "include_path: tasks/t.yaml is not valid YAML"),
    ],
)
def test_task_files_that_run_code_are_refused(tmp_path, files, allow, expect):
    (tmp_path / "evil_yaml").write_text("x: !function os.system\n")
    _folder(tmp_path, files)
    with pytest.raises(ValueError) as e:
        check_task_folder("tasks", allow_functions=allow, root=tmp_path)
    assert expect in str(e.value) and "\n" not in str(e.value)


def test_function_tags_where_the_benchmark_opts_in(tmp_path):
    _folder(tmp_path, {"t.yaml": "include: _tmpl\n" + TASK, "_tmpl": "doc_to_text: !function utils.f\n"})
    assert check_task_folder("tasks", allow_functions=True, root=tmp_path) == tmp_path.resolve() / "tasks"


def test_task_folders_stay_inside_the_repository(tmp_path):
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    (outside / "tasks").mkdir(parents=True)
    (outside / "tasks" / "t.yaml").write_text(TASK)
    repo.mkdir()
    (repo / "linked").symlink_to(outside / "tasks")
    for include_path, expect in [
        ("/etc", "'/etc' must be a folder inside the repository"),
        ("../outside/tasks", "'../outside/tasks' must be a folder inside the repository"),
        ("data/../../outside", "must be a folder inside the repository"),
        ("linked", "include_path: 'linked' leads outside the repository"),
        ("missing", "include_path: directory 'missing' does not exist"),
    ]:
        with pytest.raises(ValueError, match="^include_path: ") as e:
            check_task_folder(include_path, root=repo)
        assert expect in str(e.value)
    (repo / "tasks").mkdir()
    (repo / "tasks" / "t.yaml").symlink_to(outside / "tasks" / "t.yaml")
    with pytest.raises(ValueError, match="include_path: tasks/t.yaml leads outside the task folder"):
        check_task_folder("tasks", root=repo)


def _params_with_tasks(params, tmp_path, extra: dict[str, str]):
    import shutil

    shutil.copytree(TASKS, tmp_path / "data/eval/lm_eval")
    for name, text in extra.items():
        (tmp_path / "data/eval/lm_eval" / name).write_text(text)
    return params


def test_validation_refuses_a_function_tag_naming_key_and_file(params, tmp_path):
    from expanse.config import validate
    from expanse.errors import ConfigError

    _params_with_tasks(
        params,
        tmp_path,
        {
            "expanse_mgsm_fr.yaml": (TASKS / "expanse_mgsm_fr.yaml").read_text()
            + "process_docs: !function utils.process_docs\n"
        },
    )
    with pytest.raises(ConfigError) as e:
        validate(params, root=tmp_path)
    assert str(e.value) == (
        "params.yaml: scales.tiny.eval.benchmarks.global_mmlu.include_path: "
        "data/eval/lm_eval/expanse_mgsm_fr.yaml has a !function tag, which runs Python from the "
        "task folder; set allow_functions: true on this benchmark to allow it"
    )
    for bench in params["scales"]["tiny"]["eval"]["benchmarks"].values():
        bench["allow_functions"] = True
    assert validate(params, root=tmp_path).scales["tiny"].eval.benchmarks["mgsm"].allow_functions is True
    params["scales"]["8b"]["eval"]["benchmarks"]["mgsm"]["allow_functions"] = True
    with pytest.raises(ConfigError, match=r"^params.yaml: scales.8b.eval.benchmarks.mgsm.allow_functions: only local"):
        validate(params, root=tmp_path)


def test_validation_refuses_a_task_folder_outside_the_repository(params):
    from expanse.config import validate
    from expanse.errors import ConfigError

    params["scales"]["tiny"]["eval"]["benchmarks"]["mgsm"]["include_path"] = "/usr/lib"
    with pytest.raises(
        ConfigError,
        match=r"^params.yaml: scales.tiny.eval.benchmarks.mgsm.include_path: '/usr/lib' "
        r"must be a folder inside the repository",
    ):
        validate(params, root=REPO)


def test_the_benchmark_job_checks_the_task_folder_again(tmp_path, monkeypatch):
    from expanse.errors import ConfigError
    from expanse.evaluation.benchmarks import evaluate

    _folder(tmp_path, {"expanse_mgsm_fr.yaml": TASK + "process_docs: !function utils.process_docs\n"})
    (tmp_path / "tasks" / "utils.py").write_text("raise SystemExit('imported')\n")
    monkeypatch.chdir(tmp_path)
    section = {"tasks": "expanse_mgsm_{lang}", "metric": "acc,none", "include_path": "tasks", "bootstrap_iters": 0}
    # the job's script validates its section again: the folder changed since the workflow started
    key = "scales.tiny.eval.benchmarks.mgsm"
    with pytest.raises(
        ConfigError, match=rf"^params.yaml: {key}.include_path: tasks/expanse_mgsm_fr.yaml has a !function"
    ):
        BenchmarkCfg.of(section, key)
    # and lm-eval's loader is not reached with it even when the section was validated before the change
    bench = BenchmarkCfg.model_construct(**section)  # the other fields at their defaults
    with pytest.raises(ConfigError, match="^benchmark: include_path: tasks/expanse_mgsm_fr.yaml has a !function tag"):
        evaluate(None, tasks={"fr": "t_{n}"}, bench=bench, seed=0)


def test_benchmark_inputs_include_templates_and_the_modules_of_allowed_functions(params, tmp_path, monkeypatch):
    import shutil

    from expanse import workflow_support as ws
    from expanse.config import validate

    monkeypatch.chdir(REPO)
    files = ws.benchmark_files(validate(params), "tiny", "mgsm")
    assert (
        files[:3]
        == [
            "data/eval/lm_eval/expanse_mgsm_ar.yaml",
            "data/eval/lm_eval/_mgsm_template_yaml",
            "data/eval/mgsm/ar.jsonl",
        ]
        and len(files) == 2 * 23 + 1
    )
    shutil.copytree(TASKS, tmp_path / "data/eval/lm_eval")
    fr = tmp_path / "data/eval/lm_eval/expanse_mgsm_fr.yaml"
    fr.write_text(fr.read_text() + "process_docs: !function utils.process_docs\n")
    (tmp_path / "data/eval/lm_eval/utils.py").write_text("def process_docs(docs):\n    return docs\n")
    params["scales"]["tiny"]["eval"]["benchmarks"]["mgsm"]["allow_functions"] = True
    params["scales"]["tiny"]["eval"]["benchmarks"]["global_mmlu"]["allow_functions"] = True
    monkeypatch.chdir(tmp_path)
    files = ws.benchmark_files(validate(params), "tiny", "mgsm")
    assert "data/eval/lm_eval/utils.py" in files and len(files) == 2 * 23 + 2


def test_benchmark_inputs_follow_every_edit_of_a_task_file(params, tmp_path, monkeypatch):
    """benchmark_files parses a task file once per content: the same text gives the same inputs
    without parsing, and any edit (same size, same mtime included) is seen by the next call."""
    import os
    import shutil

    from expanse import workflow_support as ws
    from expanse.config import validate
    from expanse.evaluation import benchmarks

    shutil.copytree(TASKS, tmp_path / "data/eval/lm_eval")
    monkeypatch.chdir(tmp_path)
    p = validate(params, root=tmp_path)
    first = ws.benchmark_files(p, "tiny", "mgsm")
    fr = tmp_path / "data/eval/lm_eval/expanse_mgsm_fr.yaml"
    assert "data/eval/mgsm/fr.jsonl" in first
    parses = []
    real = benchmarks._task_loader
    monkeypatch.setattr(benchmarks, "_task_loader", lambda: parses.append(1) or real())
    assert ws.benchmark_files(p, "tiny", "mgsm") == first and not parses  # nothing changed: no parse
    stat = fr.stat()
    fr.write_text(fr.read_text().replace("data/eval/mgsm/fr.jsonl", "data/eval/mgsm/FR.jsonl"))
    os.utime(fr, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # an edit the mtime does not show
    edited = ws.benchmark_files(p, "tiny", "mgsm")
    assert "data/eval/mgsm/FR.jsonl" in edited and "data/eval/mgsm/fr.jsonl" not in edited and len(parses) == 1
    fr.write_text(fr.read_text().replace("include: _mgsm_template_yaml", "include: [_mgsm_template_yaml, _extra_yaml]"))
    edited = ws.benchmark_files(p, "tiny", "mgsm")
    assert "data/eval/lm_eval/_extra_yaml" in edited and len(parses) == 2
    edited.clear()  # a caller's list is its own
    assert "data/eval/lm_eval/_extra_yaml" in ws.benchmark_files(p, "tiny", "mgsm")
