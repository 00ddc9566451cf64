"""Each package owns the params model of its section, so a job that validates its section runs only
that package's code: its code fingerprint (what an edit reruns) stays its own."""

import pytest
from conftest import REPO

from expanse import config
from expanse.arbiter.config import ArbiterCfg
from expanse.evaluation.config import BenchmarkCfg, JudgeCfg
from expanse.fingerprint import fingerprint
from expanse.generation.config import GenerationCfg
from expanse.merging.config import MergeCfg
from expanse.tiny.spec import TinySpec
from expanse.training.config import DPOCfg, SFTCfg


def test_the_whole_params_model_is_composed_of_the_packages_sections():
    p = config.load_params(REPO / "params.yaml")
    tiny = p.scales["tiny"]
    assert isinstance(tiny.arbiter, ArbiterCfg) and isinstance(tiny.generation, GenerationCfg)
    assert isinstance(tiny.base.tiny, TinySpec)
    # a section dumped into a job's params validates back to the same model
    assert ArbiterCfg.model_validate(tiny.arbiter.model_dump()) == tiny.arbiter
    assert TinySpec.model_validate(tiny.base.tiny.model_dump()) == tiny.base.tiny
    assert isinstance(tiny.merge, MergeCfg) and isinstance(tiny.sft, SFTCfg) and isinstance(tiny.online.dpo, DPOCfg)
    assert MergeCfg.model_validate(tiny.merge.model_dump()) == tiny.merge
    assert DPOCfg.model_validate(tiny.online.dpo.model_dump()) == tiny.online.dpo
    # a model a job loads: the resolved reference of its params entry
    from expanse import workflow_support as ws
    from expanse.schema import ModelSource

    base = ModelSource.model_validate(ws.model_ref(p, "32b", "base"))
    assert base.location == p.scales["32b"].base.hf and base.load["use_safetensors"] is True
    big = p.scales["32b"].eval
    assert isinstance(big.judge, JudgeCfg) and big.judge.model.hf  # params.yaml's judge: a model reference
    assert JudgeCfg.model_validate(big.judge.model_dump()).model == big.judge.model.model_dump()
    assert all(isinstance(b, BenchmarkCfg) for b in big.benchmarks.values())


SECTIONED = ("expanse/merging/", "expanse/evaluation/", "expanse/training/")


@pytest.mark.parametrize(
    "script, package",
    [
        ("scripts/score_arbiter.py", "expanse/arbiter/"),
        ("scripts/measure_arbiter_accuracy.py", "expanse/arbiter/"),
        ("scripts/pretrain_base.py", "expanse/tiny/"),
        ("scripts/train_reward_model.py", "expanse/tiny/"),
        ("scripts/generate_teacher.py", "expanse/generation/"),
        ("scripts/merge_families.py", "expanse/merging/"),
        ("scripts/search_merge_weights.py", "expanse/merging/"),
        ("scripts/train_sft.py", "expanse/training/"),
        ("scripts/train_online_dpo.py", "expanse/training/"),
        ("scripts/judge_pairwise.py", "expanse/evaluation/"),
        ("scripts/run_benchmark.py", "expanse/evaluation/"),
    ],
)
def test_a_job_validating_its_section_does_not_run_the_other_packages(script, package):
    modules = fingerprint(script, REPO).modules
    assert any(m.startswith(package) for m in modules)
    others = [m for m in modules if m == "expanse/config.py" or (m.startswith(SECTIONED) and not m.startswith(package))]
    assert others == [], f"{script} reaches {others}"
