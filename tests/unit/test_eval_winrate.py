"""Win-rate and interval arithmetic on known inputs (ties, swapped orders, position bias), the
judge registry, verdict parsing, and the config checks of the eval section."""

import numpy as np
import pytest

from expanse.config import validate
from expanse.errors import ConfigError
from expanse.evaluation import judges
from expanse.evaluation.config import JudgeCfg
from expanse.evaluation.winrate import bootstrap_interval, outcome, prompt_outcomes, summarize
from expanse.generation.config import GenerationCfg


def test_outcomes_from_the_models_side():
    assert [outcome(v, "A") for v in ("A", "B", "tie")] == [1.0, 0.0, 0.5]
    assert [outcome(v, "B") for v in ("A", "B", "tie")] == [0.0, 1.0, 0.5]
    with pytest.raises(ValueError, match="unknown verdict 'C'"):
        outcome("C", "A")


def test_swapped_orders_average_per_prompt():
    # model first (model is A) and swapped (model is B), four prompts
    first = ["A", "B", "tie", "A"]
    second = ["B", "B", "tie", "A"]
    assert prompt_outcomes(first, second) == [1.0, 0.5, 0.5, 0.5]
    s = summarize(first, second, samples=200, seed=0)
    assert s["win_rate"] == 0.625 and s["n_prompts"] == 4
    # verdicts over both orders: wins A,B,A... = 4, ties 2, losses 2
    assert (s["wins"], s["ties"], s["losses"]) == (4, 2, 2)
    assert s["first_position_rate"] == 3 / 8  # "A" in 3 of the 8 verdicts
    with pytest.raises(ValueError, match="3 verdicts in the first order, 2"):
        prompt_outcomes(["A"] * 3, ["A"] * 2)


def test_a_judge_that_always_prefers_position_a_gives_one_half():
    s = summarize(["A"] * 10, ["A"] * 10, samples=500, seed=1)
    assert s["win_rate"] == 0.5 and s["ci_low"] == s["ci_high"] == 0.5
    assert s["first_position_rate"] == 1.0


def test_bootstrap_interval_is_seeded_and_matches_the_normal_approximation():
    x = [0.0, 1.0] * 50  # mean 0.5, standard error 0.05
    lo, hi = bootstrap_interval(x, samples=4000, seed=3)
    assert (lo, hi) == bootstrap_interval(x, samples=4000, seed=3)
    assert abs(lo - (0.5 - 1.96 * 0.05)) < 0.02 and abs(hi - (0.5 + 1.96 * 0.05)) < 0.02
    assert bootstrap_interval([1.0] * 7, samples=100, seed=0) == (1.0, 1.0)
    # a clear win: the interval excludes one half
    lo, hi = bootstrap_interval([1.0] * 18 + [0.0] * 2, samples=2000, seed=0)
    assert lo > 0.5 and hi == 1.0
    with pytest.raises(ValueError, match="no outcomes"):
        bootstrap_interval([], samples=10, seed=0)


def test_interval_by_hand_for_a_tiny_case():
    """Two prompts: the bootstrap means are 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4."""
    lo, hi = bootstrap_interval([0.0, 1.0], samples=20000, seed=0)
    assert (lo, hi) == (0.0, 1.0)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 2, size=(20000, 2))
    assert abs(np.mean(idx.sum(axis=1) == 1) - 0.5) < 0.02


def test_judge_registry_errors():
    assert judges.get_judge("reward_model") is judges.RewardModelJudge
    assert judges.get_judge("llm") is judges.LLMJudge
    with pytest.raises(KeyError, match="unknown judge 'gpt4'.*reward_model, llm"):
        judges.get_judge("gpt4")


def test_reward_verdicts_with_a_tie_margin():
    assert judges.reward_verdict(1.0, 0.5, 0.0) == "A"
    assert judges.reward_verdict(0.5, 1.0, 0.0) == "B"
    assert judges.reward_verdict(1.0, 1.0, 0.0) == "tie"
    assert judges.reward_verdict(1.0, 0.9, 0.2) == "tie"


def test_llm_verdict_parsing_and_prompt():
    assert judges.parse_verdict("A is more fluent. [[A]]") == "A"
    assert judges.parse_verdict("first [[A]] then on reflection [[B]]") == "B"
    assert judges.parse_verdict("equal: [[C]]") == "tie"
    assert judges.parse_verdict("A is better") is None
    assert judges.parse_verdict("[[D]]") is None
    conv = judges.judge_conversation("Bonjour ?", "Salut.", "Hello.", "French")
    text = conv[0]["content"]
    assert conv[0]["role"] == "user" and "French" in text
    assert text.index("Salut.") < text.index("Hello.")  # A's answer comes first
    gen = judges.judge_generation(
        GenerationCfg(
            backend="vllm",
            temperature=0.7,
            max_new_tokens=64,
            batch_size=4,
            repetition_penalty=1.2,
            top_p=0.9,
            dtype="bfloat16",
        ),
        JudgeCfg(max_new_tokens=512, batch_size=32),
    )
    assert gen.temperature == 0.0 and gen.max_new_tokens == 512 and gen.repetition_penalty == 1.0
    assert gen.backend == "vllm" and gen.batch_size == 32


@pytest.mark.parametrize(
    "judge, message",
    [
        ({"method": "gpt4"}, "scales.tiny.eval.judge.method: unknown judge 'gpt4'"),
        ({"method": "llm"}, "scales.tiny.eval.judge.model: the llm judge needs a judge model"),
        ({"method": "reward_model", "model": {"hf": "a/b"}}, "scales.tiny.eval.judge.model: .*takes no model"),
        ({"method": "llm", "model": {"tiny": {}}}, "scales.tiny.eval.judge.model: .*tiny judges are not built"),
    ],
)
def test_bad_judge_config_is_one_line_naming_the_key(params, judge, message):
    params["scales"]["tiny"]["eval"]["judge"] = judge
    with pytest.raises(ConfigError, match=message) as e:
        validate(params)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "bench, message",
    [
        ({"tasks": "global_mmlu_full", "metric": "acc,none"}, "benchmarks.x.tasks: .*must contain \\{lang\\}"),
        ({"tasks": "t_{lang}", "metric": "acc"}, "benchmarks.x.metric: .*'name,filter'"),
        (
            {"tasks": "t_{lang}", "metric": "acc,none", "languages": ["xx"]},
            "benchmarks.x.languages: .*unknown language code 'xx'",
        ),
        ({"tasks": "t_{lang}", "metric": "acc,none", "shots": 5}, "benchmarks.x.shots"),
    ],
)
def test_bad_benchmark_config_is_one_line_naming_the_key(params, bench, message):
    params["scales"]["tiny"]["eval"]["benchmarks"] = {"x": bench}
    with pytest.raises(ConfigError, match=message):
        validate(params)


def test_eval_resources_are_known_classes(params):
    params["scales"]["32b"]["resources"]["judges"] = {"gpu": 1}
    with pytest.raises(ConfigError, match="resources.judges: unknown resource class"):
        validate(params)
