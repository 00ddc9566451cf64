"""Editing library code reruns exactly the jobs that run it. The scripts are thin, so a job's code is
the project modules its script imports (expanse/fingerprint.py): Snakemake compares their
fingerprint (each rule's `code` param), DVC their files (each stage's deps)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from shrink import REPO
from smk import TARGET_RULES, params_of, snakemake

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


def test_each_stage_depends_on_exactly_the_modules_its_script_imports():
    # a stage runs the jobs of a phase (expanse.dvc_pipeline.PHASES), maybe of several scripts
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, st in stages.items():
        scripts = [d for d in st["deps"] if d.startswith("scripts/")]
        assert scripts, name
        modules = {d for d in st["deps"] if d.startswith("expanse/")}
        assert modules == {m for s in scripts for m in fingerprint(s, REPO).modules}, name
    assert "expanse/pairs.py" in stages["dpo-romance"]["deps"]  # build_pairs
    assert "expanse/pairs.py" not in stages["sft-romance"]["deps"]
    assert "expanse/training/trainers.py" in stages["sft-romance"]["deps"]  # through `python -m expanse.training`


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
