"""expanse.dvc_pipeline without Snakemake: stage names of the phases, the cycle check, and dvc.lock
entries recorded one job per stage carried over to the stages that now run those jobs (checked
against what `dvc commit` itself records)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from expanse.dvc_pipeline import OLD_CMD, check_acyclic, dvcignore_text, group_name_of, regroup_lock, stage_path
from expanse.errors import RuleError

FAMILIES = {"fr": "romance", "es": "romance", "ja": "asian"}


def test_stage_names_of_phases_and_of_single_jobs():
    assert (
        group_name_of("generate_teacher", {"scale": "tiny", "lang": "fr", "teacher": "euro"}, FAMILIES)
        == "arbitrage-fr"
    )
    assert group_name_of("build_pairs", {"scale": "tiny", "lang": "es"}, FAMILIES) == "dpo-romance"
    assert (
        group_name_of("train_online_dpo", {"scale": "tiny", "family": "asian", "it": "2"}, FAMILIES) == "online-asian-2"
    )
    assert (
        group_name_of("sample_policy", {"scale": "tiny", "family": "asian", "it": "2", "lang": "ja"}, FAMILIES)
        == "online-asian-2"
    )
    assert (
        group_name_of("run_benchmark", {"scale": "8b", "bench": "mgsm", "model": "family_asian"}, FAMILIES)
        == "benchmarks-family_asian"
    )
    assert group_name_of("merge_stage", {"scale": "8b", "stage": "a.b"}, FAMILIES) == "merge_stage-a_b"
    # phases without keys: one stage for every language's jobs
    assert group_name_of("prepare_eval_prompts", {"scale": "tiny", "lang": "fr"}, FAMILIES) == "test_prompts"
    assert group_name_of("judge_pairwise", {"scale": "tiny", "lang": "fr"}, FAMILIES) == "eval"
    with pytest.raises(RuleError, match="rule build_pairs: no wildcard family"):
        group_name_of("build_pairs", {"scale": "tiny", "lang": "xx"}, FAMILIES)
    with pytest.raises(RuleError, match="rule eval: named like a phase"):
        group_name_of("eval", {"scale": "tiny"}, FAMILIES)


def test_the_default_scales_folder_is_shown_right_after_the_line_hiding_every_scale():
    text = "# mine\n.venv/\n/pipelines/*/\nlogs/\n"
    assert dvcignore_text(text, "tiny") == "# mine\n.venv/\n/pipelines/*/\n!/pipelines/tiny/\nlogs/\n"
    # the default scale changed (params.yaml's first scale): the line follows, nothing else moves
    shown = dvcignore_text(text, "tiny")
    assert dvcignore_text(shown, "8b") == shown.replace("!/pipelines/tiny/", "!/pipelines/8b/")
    assert dvcignore_text(shown, "tiny") == shown
    # no such line yet: added at the end, with its comment
    added = dvcignore_text("logs/\n", "tiny").splitlines()
    assert added[0] == "logs/" and added[-2:] == ["/pipelines/*/", "!/pipelines/tiny/"]
    assert stage_path("tiny", "sft-romance") == "pipelines/tiny/sft/romance/dvc.yaml"
    assert stage_path("8b", "pretrain_teacher-asia") == "pipelines/8b/pretrain_teacher/asia/dvc.yaml"
    assert stage_path("tiny", "merge_families") == "pipelines/tiny/merge_families/dvc.yaml"


def test_a_cycle_between_stages_is_refused():
    stages = {
        "a": {"deps": ["z"], "outs": ["x"]},
        "b": {"deps": ["x"], "outs": ["y"]},
        "c": {"deps": ["y"], "outs": ["z"]},
    }
    with pytest.raises(RuleError, match=r"dvc.yaml: the stages a -> c -> b -> a form a cycle"):
        check_acyclic(stages, "dvc.yaml")
    check_acyclic({"a": {"deps": [], "outs": ["x"]}, "b": {"deps": ["x"], "outs": ["y"]}}, "dvc.yaml")


def _dvc(root: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def _write(root: Path, stages: dict) -> str:
    text = yaml.safe_dump({"stages": stages}, sort_keys=False)
    (root / "dvc.yaml").write_text(text)
    return text


def test_regrouped_lock_entries_are_what_dvc_records(tmp_path):
    """Two one-job stages recorded by DVC, then grouped into one: the carried-over entry equals the
    one `dvc commit` writes for the grouped stage; an entry is not carried over where a job's is
    missing."""
    root = tmp_path
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    _dvc(root, "init", "-q")
    (root / "params.yaml").write_text("a: {x: 1, y: [2, 3]}\nb: 4\nc: 5\n")
    (root / "in.txt").write_text("in\n")
    (root / "code.py").write_text("print()\n")
    (root / "mid.txt").write_text("mid\n")
    (root / "out").mkdir()
    (root / "out/w.bin").write_bytes(b"w" * 100)
    (root / "other.txt").write_text("other\n")
    one = {
        "cmd": OLD_CMD.format(rule="first", outs="mid.txt"),
        "deps": ["in.txt", "code.py"],
        "params": ["a.x", "c"],
        "outs": ["mid.txt"],
    }
    two = {
        "cmd": OLD_CMD.format(rule="second", outs="out"),
        "deps": ["mid.txt", "code.py"],
        "params": ["a.y"],
        "outs": ["out"],
    }
    three = {"cmd": OLD_CMD.format(rule="third", outs="other.txt"), "deps": ["in.txt"], "outs": ["other.txt"]}
    _write(root, {"first-x": one, "second-x": two, "third-x": three})
    _dvc(root, "commit", "-f", "-q")
    grouped = {
        "cmd": "snakemake --cores all --force --allowed-rules first second --quiet all -- mid.txt out",
        "deps": ["in.txt", "code.py"],
        "params": ["a", "c"],
        "outs": ["mid.txt", "out"],
    }
    lonely = {
        "cmd": "snakemake --cores all --force --allowed-rules third --quiet all -- other.txt",
        "deps": ["in.txt"],
        "outs": ["other.txt"],
    }
    text = _write(root, {"phase-x": grouped, "third-x": lonely, "phase-y": {**lonely, "outs": ["gone.txt"]}})
    lock_before = (root / "dvc.lock").read_text()
    members = {"phase-x": ["first-x", "second-x"], "third-x": ["third-x"], "phase-y": ["missing-y"]}
    # the jobs read a.x and a.y, not `a` as a whole: the key stays unrecorded (DVC: changed)
    assert regroup_lock(root, "dvc.yaml", text, members) == ["phase-x", "third-x"]
    carried = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert "params" not in carried["phase-x"] or "a" not in carried["phase-x"]["params"]["params.yaml"]

    (root / "dvc.lock").write_text(lock_before)
    grouped["params"] = ["a.x", "a.y", "c"]
    text = _write(root, {"phase-x": grouped, "third-x": lonely})
    assert regroup_lock(root, "dvc.yaml", text, {"phase-x": ["first-x", "second-x"], "third-x": ["third-x"]}) == [
        "phase-x",
        "third-x",
    ]
    assert regroup_lock(root, "dvc.yaml", text, {"phase-x": ["first-x", "second-x"], "third-x": ["third-x"]}) == []
    carried = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert "Data and pipelines are up to date" in _dvc(root, "status")
    _dvc(root, "commit", "-f", "-q")  # what DVC itself records for the grouped stages
    recorded = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert {n: carried[n] for n in ("phase-x", "third-x")} == {n: recorded[n] for n in ("phase-x", "third-x")}


def test_a_lookup_by_key_records_that_key_and_membership_or_iteration_the_key_set():
    """`resources.get("generate")` depends on the generate class only (its value, or the table's if
    it were absent), so an edit to another resource class reruns nothing; `x in families` and
    iterating depend on the set of names."""
    from expanse.config import load_yaml, validate
    from expanse.dvc_pipeline import recording

    raw = load_yaml(str(Path(__file__).resolve().parents[2] / "params.yaml"))
    params = validate(raw)
    with recording(params) as reads:
        assert params.scales["tiny"].resources.get("generate").gpu == 0
        assert params.scales["tiny"].resources.get("no_such_class") is None
    assert reads.keysets == set()
    assert reads.minimal(raw) == ["scales.tiny.resources"]  # the absent class: tracked through its parent
    with recording(params) as reads:
        _ = params.scales["tiny"].resources.get("generate").gpu
    assert reads.keysets == set() and reads.minimal(raw) == ["scales.tiny.resources.generate"]
    with recording(params) as reads:
        assert "asian" in params.families
        list(params.languages)
    assert reads.keysets == {"families", "languages"}


def test_a_plan_left_after_sync_is_named_in_one_line():
    from expanse.dvc_pipeline import planned_summary

    plan = """Building DAG of jobs...
Job stats:
job                 count
----------------  -------
build_pairs             2
summarize_training      1
total                   3

[Wed Dec  2 01:06:45 2026]
rule build_pairs:
    output: results/tiny/pairs/offline/fr.parquet
    reason: Params have changed since last execution: min_margin
"""
    assert planned_summary(plan) == (
        "build_pairs 2, summarize_training 1 (first job's reason: Params have changed since last execution: min_margin)"
    )
    assert planned_summary("Nothing to be done (all requested files are present and up to date).") == "(no plan)"
