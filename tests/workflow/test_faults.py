"""Faults survived, the short version of benchmarks/faults.py: on a copy of the built graph, one
language's arbitrage chain and its family's SFT are rebuilt, and the whole Snakemake process group
is SIGKILLed while a generation, a scoring and a training job run. After every kill no output that
Snakemake would take as finished differs from the built one; the rerun, done as the README says
(`snakemake --unlock` after the stale-lock error, then the same command), ends byte-identical."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
from smk import first_slice, params_of

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from faults import (
    LOCKED,
    Target,
    explain,
    inspect,
    plan,
    run_with_kills,
    same_but_for_run_records,  # noqa: E402
    tree_digests,
)

pytestmark = pytest.mark.workflow


def test_killed_builds_rerun_to_the_same_bytes(built, built_copy, tmp_path):
    repo = built_copy
    lang, family, teacher = first_slice(params_of(repo))
    target = f"results/tiny/checkpoints/{family}/sft"
    work = repo / f"results/tiny/resume/{family}/sft"
    # a cold build of the slice: the chain's outputs are removed, so the command that builds them is
    # also the one a user types again after a kill
    _, _, chain = plan(repo, "--forcerun", f"results/tiny/generations/{lang}/{teacher}.parquet", "--", target)
    assert sorted(j["rule"] for j in chain) == ["generate_teacher", "score_arbiter", "select_arbitrage", "train_sft"]
    outputs = sorted({o for j in chain for o in j["output"]})
    for out in map(repo.joinpath, outputs + [log for j in chain for log in j["log"]]):
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    cmd = ["-c2", "--", target]
    ref = tree_digests(built)

    def working(rule):  # the job has loaded its model (transformers' "Loading weights" in its log): it is at work
        log = next(repo / j["log"][0] for j in chain if j["rule"] == rule)
        return lambda root: log.is_file() and "Loading weights" in log.read_text(errors="replace")

    schedule = [
        Target("generate_teacher", ready=working("generate_teacher")),
        Target("score_arbiter", ready=working("score_arbiter")),
        Target("train_sft", ready=lambda root: any(work.glob("checkpoint-*/trainer_state.json"))),
    ]
    res = run_with_kills(repo, cmd, cmd, schedule, ref, outputs, log_dir=tmp_path, ref_root=built, timeout=900)
    assert not res.failure, res.failure
    assert [k.target for k in res.kills] == ["generate_teacher", "score_arbiter", "train_sft"]
    for k in res.kills:
        assert k.target in {rule for rule, _ in k.running}, (k.target, k.running)  # the kill hit that job
        assert not k.inspection.finished_looking_bad and not k.inspection.unexpected, k.inspection
    assert res.unlocks == len(res.kills) and LOCKED in res.lock_message

    final = inspect(repo, ref, outputs, built)
    # a scratch file a killed job left beside an output (.NAME.<x>.tmp) is no output; compared: the rest
    mine = {r: d for r, d in tree_digests(repo).items() if r not in final.temporaries}
    differ = sorted(r for r in set(mine) | set(ref) if mine.get(r) != ref.get(r))
    # the SFT job resumed from its checkpoint; its metrics may say so (resumed_from_step), nothing else may differ
    assert re.search(r"resuming from step [1-9]", (repo / f"logs/tiny/train_sft/{family}.log").read_text())
    why = {r: explain(built, repo, r) for r in differ}
    assert set(differ) <= {f"{target}.metrics.json", f"{target}/metrics.json"}, why
    assert all(same_but_for_run_records(built, repo, r) for r in differ), why
    assert not final.finished_looking_bad and not final.incomplete_present and not final.unexpected, final
    assert not work.exists()
