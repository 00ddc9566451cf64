"""Editing library code reruns exactly the jobs that run it. The scripts are thin, so a job's code is
the project modules its script imports (expanse/fingerprint.py): Snakemake compares their
fingerprint (each rule's `code` param), DVC their files (each stage's deps)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from shrink import REPO
from smk import TARGET_RULES, params_of, snakemake

from expanse.dvc_pipeline import pipeline_files
from expanse.fingerprint import fingerprint

pytestmark = pytest.mark.workflow

_RULE = re.compile(r"^(?:local)?rule (\w+):$")


def planned_with_reasons(cwd: Path, *targets: str) -> list[tuple[str, dict, str]]:
    """(rule, wildcards, reason) of every job `snakemake -n` plans, target rules excluded."""
    jobs = []
    for line in snakemake(cwd, "-n", *targets).stdout.splitlines():
        text = line.strip()
        m = _RULE.match(text)
        if m:
            jobs.append([m.group(1), {}, ""])
        elif jobs and text.startswith("wildcards:"):
            jobs[-1][1].update(dict(p.strip().split("=", 1) for p in text[len("wildcards:") :].split(",") if "=" in p))
        elif jobs and text.startswith("reason:"):
            jobs[-1][2] = text[len("reason:") :].strip()
    return [(r, w, why) for r, w, why in jobs if r not in TARGET_RULES]


def test_each_stage_depends_on_the_code_files_of_exactly_its_scripts():
    # a stage runs the jobs of a phase (expanse.dvc_pipeline.PHASES), maybe of several scripts; its
    # code is one dep per script: the code file the code stage writes (script and modules)
    stages = {
        name: st
        for path in pipeline_files(REPO, "tiny")  # the main file and the stages' own files
        for name, st in yaml.safe_load((REPO / path).read_text())["stages"].items()
    }
    code = stages.pop("code")
    entries = code["cmd"].split(" --scale tiny ", 1)[1].split()
    assert code["deps"] == sorted({f for e in entries for f in (e, *fingerprint(e, REPO).modules)})
    for name, st in stages.items():
        files = [d for d in st["deps"] if d.startswith("results/tiny/code/")]
        assert files and not any(d.startswith(("expanse/", "scripts/")) for d in st["deps"]), name
        assert set(files) <= set(code["outs"]), name
    assert stages["dpo-romance"]["deps"].count("results/tiny/code/scripts/build_pairs.py.json") == 1
    assert "expanse/pairs.py" in fingerprint("scripts/build_pairs.py", REPO).modules
    assert "expanse/pairs.py" not in fingerprint("scripts/train_sft.py", REPO).modules
    # through `python -m expanse.training`
    assert "expanse/training/trainers.py" in fingerprint("scripts/train_sft.py", REPO).modules


def test_the_code_stage_writes_each_entrys_fingerprint(tmp_path):
    """`python -m expanse.fingerprint` (the code stage's cmd): one file per entry, a function of the
    code's bytes only; an unknown entry is a one-line error and writes nothing."""
    import shutil

    from expanse import contracts
    from expanse.fingerprint import code_text

    root = tmp_path / "copy"
    for part in ("expanse", "scripts"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))

    def write(*entries: str):
        argv = [sys.executable, "-m", "expanse.fingerprint", "--scale", "tiny", "--root", str(root), *entries]
        return subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path)

    assert write("scripts/build_pairs.py", "scripts/train_sft.py").returncode == 0
    written = root / "results/tiny/code/scripts/build_pairs.py.json"
    assert written.read_text() == code_text(fingerprint("scripts/build_pairs.py", REPO))  # the same code
    data = json.loads(written.read_text())
    assert data["entry"] == "scripts/build_pairs.py" and "expanse/pairs.py" in data["modules"]
    contracts.check(data, "code", written)
    sft = (root / "results/tiny/code/scripts/train_sft.py.json").read_text()
    (root / "expanse/pairs.py").write_text((root / "expanse/pairs.py").read_text() + "\n# edited\n")
    assert write("scripts/build_pairs.py", "scripts/train_sft.py").returncode == 0
    assert written.read_text() != code_text(fingerprint("scripts/build_pairs.py", REPO))
    assert (root / "results/tiny/code/scripts/train_sft.py.json").read_text() == sft  # not its code
    shutil.rmtree(root / "results")
    bad = write("scripts/nope.py")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ")
    assert "scripts/nope.py" in bad.stderr and not (root / "results").exists()


def params_changed(cwd: Path) -> set[str]:
    """The stages (jobs) whose params, the code fingerprint among them, differ from those their
    outputs were made with: Snakemake's params trigger, asked of every job. (`snakemake -n` shows it
    only for jobs not already rerun for an updated input; `--list-changes params` lists every output
    in Snakemake 9.27.1.)"""
    snippet = (
        "from pathlib import Path\nfrom expanse.graph import load\n"
        "with load(Path.cwd(), ['all']) as g:\n"
        "    print(*sorted(j.name for j in g.jobs if g.params_changed(j)), sep='\\n')\n"
    )
    out = subprocess.run([sys.executable, "-c", snippet], cwd=cwd, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_editing_a_module_replans_exactly_the_jobs_that_run_it(built_copy):
    root = built_copy
    # a module no job imports (and a file that is no code): nothing to do
    (root / "expanse/scratch.py").write_text("X = 1\n")
    with (root / "README.md").open("a") as f:
        f.write("\nedited\n")
    assert planned_with_reasons(root, "all") == [] and params_changed(root) == set()

    with (root / "expanse/pairs.py").open("a") as f:
        f.write("\n# edited\n")
    # the code of exactly the jobs whose scripts import expanse.pairs changed, every one of them
    params = params_of(root)
    langs, iterations = list(params["languages"]), params["scales"]["tiny"]["online"]["iterations"]
    family = {lang: params["languages"][lang]["family"] for lang in langs}
    assert params_changed(root) == {f"build_pairs-{lang}" for lang in langs} | {
        f"build_online_pairs-{family[lang]}-{it}-{lang}".replace(".", "_")
        for lang in langs
        for it in range(1, iterations + 1)
    }
    # the plan: those first (the offline pairs; the online ones come after DPO), then what their
    # outputs feed (DPO, the online iterations, the merge, the eval); nothing upstream or beside them
    jobs = planned_with_reasons(root, "all")
    roots = sorted(w["lang"] for r, w, why in jobs if why.startswith("Params have changed"))
    assert roots == sorted(langs) and {r for r, _, why in jobs if why.startswith("Params")} == {"build_pairs"}
    rest = [(r, why) for r, _, why in jobs if not why.startswith("Params have changed")]
    assert all(why.startswith("Input files updated by another job") for _, why in rest), rest
    planned = {r for r, _, _ in jobs}
    assert {
        "build_online_pairs",
        "train_dpo",
        "train_online_dpo",
        "merge_families",
        "judge_pairwise",
        "eval_report",
    } <= planned
    assert sum(r == "build_online_pairs" for r, _, _ in jobs) == len(langs) * iterations
    assert not planned & {
        "prepare_prompts",
        "generate_teacher",
        "score_arbiter",
        "select_arbitrage",
        "train_sft",
        "pretrain_base",
        "pretrain_teacher",
    }
