"""Run Snakemake in a copy of the repo and read its dry-run plan."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from shrink import REPO

from expanse.dvc_pipeline import scales_of
from expanse.workflow_support import target_rules

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(cwd: Path, *args: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


_RULE = re.compile(r"^(?:local)?rule (\w+):$")


def planned_jobs(cwd: Path, *targets: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job `snakemake -n` plans, target rules excluded."""
    return parse_plan(snakemake(cwd, "-n", *targets).stdout)


def parse_plan(out: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job in a `snakemake -n` output (group jobs' members included);
    wildcards also carry `_resources`, `_input` and `_priority` (printed only when not 0)."""
    jobs, current = [], None
    for line in out.splitlines():
        m = _RULE.match(line.strip())
        if m:
            current = [m.group(1), {}]
            jobs.append(current)
        elif current is not None and line.strip().startswith("wildcards:"):
            pairs = line.strip()[len("wildcards:") :].split(",")
            current[1].update(dict(p.strip().split("=", 1) for p in pairs if "=" in p))
        elif current is not None and line.strip().startswith("resources:"):
            current[1]["_resources"] = line.strip()[len("resources:") :].strip()
        elif current is not None and line.strip().startswith("priority:"):
            current[1]["_priority"] = int(line.strip()[len("priority:") :])
        elif current is not None and line.strip().startswith("input:"):
            current[1]["_input"] = [i.strip() for i in line.strip()[len("input:") :].split(",")]
    return [(r, w) for r, w in jobs if r not in TARGET_RULES]


TARGET_RULES = target_rules(scales_of(REPO))


def params_of(root: Path) -> dict:
    return yaml.safe_load((root / "params.yaml").read_text())


def first_slice(params: dict) -> tuple[str, str, str]:
    """(language, its family, teacher): the first of each in params.yaml, the slice tests rebuild."""
    lang = next(iter(params["languages"]))
    return lang, params["languages"][lang]["family"], next(iter(params["scales"]["tiny"]["teachers"]))


def write_params(root: Path, params: dict) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
