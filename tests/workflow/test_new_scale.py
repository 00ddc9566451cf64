"""A scale added to params.yaml is a first-class scale with no other edit: its target rules, its DVC
pipeline (hidden from plain DVC commands like every scale but the default one), its ignores in git
and DVC, and the Makefile's dry run."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml
from shrink import REPO, copy_repo
from smk import planned_jobs, snakemake

pytestmark = pytest.mark.workflow
TARGETS = ("arbitrage", "train", "merged", "eval")


def run(root, *argv, check=True):
    proc = subprocess.run(list(argv), cwd=root, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


@pytest.fixture(scope="module")
def with_70b(tmp_path_factory):
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    assert "70b" not in params["scales"]
    params["scales"]["70b"] = copy.deepcopy(params["scales"]["32b"])
    root = copy_repo(tmp_path_factory.mktemp("scale70b"), params)
    run(root, "git", "init", "-q")
    return root


def test_a_new_scale_gets_its_targets(with_70b):
    listed = snakemake(with_70b, "--list-target-rules").stdout.split()
    assert {f"{t}_70b" for t in TARGETS} <= set(listed)
    jobs = shape(with_70b, "merged_70b", "70b")
    assert jobs and jobs == shape(with_70b, "merged_32b", "32b")  # the graph of the scale it copies


def shape(root, target, scale):
    """(rule, wildcards but the scale) of the jobs planned for `target`, whose scale must be `scale`."""
    jobs = [(r, w) for r, w in planned_jobs(root, target) if r != target]
    assert {w["scale"] for _, w in jobs} == {scale}
    return sorted((r, sorted((k, v) for k, v in w.items() if k != "scale" and not k.startswith("_"))) for r, w in jobs)


def test_a_new_scale_gets_its_dvc_pipeline_hidden_from_plain_dvc(with_70b):
    run(with_70b, sys.executable, "-m", "expanse.dvc_pipeline", "--scale", "70b")
    stages = yaml.safe_load((with_70b / "pipelines/70b/dvc.yaml").read_text())["stages"]
    assert stages and all(o.startswith("results/70b/") for st in stages.values() for o in st["outs"])
    plain = run(with_70b, sys.executable, "-m", "dvc", "stage", "list", "pipelines/70b/dvc.yaml", check=False)
    assert plain.returncode != 0 and "is dvc-ignored" in plain.stderr
    shown = run(
        with_70b, sys.executable, "-m", "expanse.dvc_pipeline", "dvc", "70b", "stage", "list", "pipelines/70b/dvc.yaml"
    ).stdout
    assert {line.split()[0] for line in shown.splitlines()} == {f"pipelines/70b/dvc.yaml:{n}" for n in stages}
    wrong = run(with_70b, sys.executable, "-m", "expanse.dvc_pipeline", "dvc", "71b", "status", check=False)
    assert wrong.returncode == 1 and wrong.stderr.strip().splitlines() == [
        "error: no hidden pipeline of scale 71b (known: 8b, 32b, 70b)"
    ]


def test_a_new_scale_is_ignored_by_git_and_dvc_and_has_a_dry_run(with_70b):
    for path in ("results/70b/merged/x", "logs/70b/x.log", "benchmarks/70b/generate_teacher/x.tsv"):
        assert run(with_70b, "git", "check-ignore", "-q", path, check=False).returncode == 0, path
    assert run(with_70b, "git", "check-ignore", "-q", "benchmarks/dvc_overhead.py", check=False).returncode == 1
    dry = run(with_70b, "make", "-n", "dry-run", "SCALE=70b", "BIN=.venv/bin").stdout
    assert "snakemake -n merged_70b" in dry
