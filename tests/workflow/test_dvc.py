"""DVC over the Snakemake graph: the generated pipelines are in sync with the job graph, their
params are the keys each job reads, DVC and Snakemake agree on what an edit reruns, and the
documented commands (record after a Snakemake run, sync after a DVC checkout) keep them agreeing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shrink import REPO, copy_repo
from smk import params_of, planned_jobs, write_params

pytestmark = pytest.mark.workflow
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONHASHSEED": "0"}


def run(root: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), cwd=root, capture_output=True, text=True, env=ENV)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def dvc(root: Path, *args: str, check: bool = True):
    return run(root, sys.executable, "-m", "dvc", *args, check=check)


def pipeline(root: Path, *args: str, check: bool = True):
    return run(root, sys.executable, "-m", "expanse.dvc_pipeline", *args, check=check)


def stages_of(root: Path, path: str = "dvc.yaml") -> dict:
    return yaml.safe_load((root / path).read_text())["stages"]


def stage_of(rule: str, wildcards: dict) -> str:
    values = [v for k, v in wildcards.items() if not k.startswith("_") and k != "scale"]
    return "-".join([rule, *values]).replace(".", "_")


def downstream(stages: dict, roots: set[str]) -> set[str]:
    """Stages that run when `roots` run: everything that depends on their outputs, transitively."""
    producer = {out: name for name, st in stages.items() for out in st["outs"]}
    users: dict[str, set[str]] = {}
    for name, st in stages.items():
        for dep in st["deps"]:
            if dep in producer:
                users.setdefault(producer[dep], set()).add(name)
    seen, todo = set(roots), list(roots)
    while todo:
        for user in users.get(todo.pop(), ()):
            if user not in seen:
                seen.add(user)
                todo.append(user)
    return seen


def changed_stages(root: Path) -> set[str]:
    out = dvc(root, "status", "dvc.yaml", "--json").stdout
    return {name.split(":")[-1] for name in json.loads(out or "{}")}


# ---------------------------------------------------------------- generation (no build needed)
def test_generated_pipelines_are_in_sync_with_the_job_graph():
    proc = pipeline(REPO, "check", check=False)
    assert proc.returncode == 0, proc.stderr
    tiny = stages_of(REPO)
    jobs = planned_jobs(REPO, "--forceall", "all")
    assert set(tiny) == {stage_of(r, w) for r, w in jobs}
    for scale in ("8b", "32b"):
        st = stages_of(REPO, f"pipelines/{scale}/dvc.yaml")
        assert all(s["wdir"] == "../.." and all(o.startswith(f"results/{scale}/") for o in s["outs"]) for s in st.values())
    assert all(o.startswith("results/tiny/") for s in tiny.values() for o in s["outs"])


def test_a_stage_depends_on_exactly_the_params_keys_its_job_reads(shipped_params):
    tiny = stages_of(REPO)
    assert tiny["prepare_prompts-fr"]["params"] == ["languages.fr", "scales.tiny.prompts", "seed"]
    assert tiny["prepare_prompts-fr"]["deps"] == ["data/prompts/fr.jsonl", "data/eval/prompts/fr.jsonl",
                                                  "scripts/prepare_prompts.py", "rules/prompts.smk", "envs/data.yaml"]
    readers_of_fr = {n for n, s in tiny.items() if any(p == "languages.fr" or p.startswith("languages.fr.")
                                                        for p in s.get("params", []) if isinstance(p, str))}
    # fr's own prompt stage reads its entry; the rest read only its family (membership)
    assert all(n == "prepare_prompts-fr" or tiny[n]["params"].count("languages.fr.family") for n in readers_of_fr)
    assert "scales.tiny.sft" in tiny["train_sft-romance"]["params"]
    assert "scales.tiny.dpo" not in tiny["train_sft-romance"]["params"]
    assert {f"families.{f}" for f in shipped_params["families"]} <= {p for p in tiny["merge_families"]["params"] if isinstance(p, str)}
    gen = tiny["generate_teacher-fr-euro"]["params"]
    assert "scales.tiny.teachers.euro" in gen and not any("teachers.east" in p for p in gen if isinstance(p, str))
    # every key exists in params.yaml (DVC refuses a stage whose param is missing)
    for scale, path in (("tiny", "dvc.yaml"), ("8b", "pipelines/8b/dvc.yaml"), ("32b", "pipelines/32b/dvc.yaml")):
        for name, st in stages_of(REPO, path).items():
            for key in (p for p in st.get("params", []) if isinstance(p, str)):
                node = shipped_params
                for part in key.split("."):
                    assert isinstance(node, dict) and part in node, f"{path}: {name}: {key} is not in params.yaml"
                    node = node[part]


def test_adding_a_language_makes_the_pipelines_stale(tmp_path, shipped_params):
    params = json.loads(json.dumps(shipped_params))
    del params["languages"]["vi"]
    root = copy_repo(tmp_path / "repo", params)
    proc = pipeline(root, "check", check=False)
    assert proc.returncode == 1
    assert "dvc.yaml: stale; regenerate with `python -m expanse.dvc_pipeline`" in proc.stderr
    assert "pipelines/keys.yaml: stale" in proc.stderr
    pipeline(root)
    assert pipeline(root, "check", check=False).returncode == 0
    assert not any(n.endswith("-vi") or "-vi-" in n for n in stages_of(root))
    assert set(stages_of(REPO)) - set(stages_of(root)) == {n for n in stages_of(REPO) if n.endswith("-vi") or "-vi-" in n}
