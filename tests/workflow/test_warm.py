"""Warm and cold jobs write the same bytes: the shared built graph was built with the warm worker
(local CPU jobs run in a child of a server that holds the heavy imports); on a copy, one job of
each kind that loads a model (teacher generation, arbiter scoring, DPO training with trl, eval
answers, the reward-model judge, lm-eval's benchmark runner) is forced again with EXPANSE_WARM=0,
in its own process, and its outputs must be byte-identical."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from smk import first_slice, params_of, snakemake

pytestmark = pytest.mark.workflow


def digests(root: Path, outputs: list[str]) -> dict[str, str]:
    out = {}
    for rel in outputs:
        path = root / rel
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            out[str(f.relative_to(root))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def test_warm_and_cold_jobs_write_the_same_bytes(built_copy, monkeypatch):
    repo = built_copy
    p = params_of(repo)
    lang, family, teacher = first_slice(p)
    bench = next(iter(p["scales"]["tiny"]["eval"]["benchmarks"]))
    jobs = {  # rule: (outputs, log)
        "generate_teacher": (
            [f"results/tiny/generations/{lang}/{teacher}.parquet"],
            f"logs/tiny/generate_teacher/{lang}/{teacher}.log",
        ),
        "score_arbiter": (
            [f"results/tiny/scores/{lang}/{teacher}.parquet"],
            f"logs/tiny/score_arbiter/{lang}/{teacher}.log",
        ),
        "train_dpo": (
            [f"results/tiny/checkpoints/{family}/dpo", f"results/tiny/checkpoints/{family}/dpo.metrics.json"],
            f"logs/tiny/train_dpo/{family}.log",
        ),
        "generate_eval": (
            [f"results/tiny/eval/answers/{lang}/merged.parquet"],
            f"logs/tiny/generate_eval/{lang}/merged.log",
        ),
        "judge_pairwise": (
            [f"results/tiny/eval/winrates/{lang}.json", f"results/tiny/eval/judgements/{lang}.parquet"],
            f"logs/tiny/judge_pairwise/{lang}.log",
        ),
        "run_benchmark": (
            [f"results/tiny/eval/benchmarks/{bench}/merged.json"],
            f"logs/tiny/run_benchmark/{bench}/merged.log",
        ),
    }
    outputs = [o for outs, _ in jobs.values() for o in outs]
    for rule, (_, log) in jobs.items():  # the built graph ran them warm
        assert "warm worker: child" in (repo / log).read_text(), (rule, log)
    warm = digests(repo, outputs)
    assert len(warm) >= len(outputs)

    monkeypatch.setenv("EXPANSE_WARM", "0")  # every job in its own process
    targets = [outs[0] for outs, _ in jobs.values()]
    snakemake(repo, "-c2", "--force", "--allowed-rules", *jobs, "--", *targets, timeout=1800)
    for rule, (_, log) in jobs.items():  # and now each in its own process
        assert "warm worker" not in (repo / log).read_text(), (rule, log)
    cold = digests(repo, outputs)
    assert cold == warm
