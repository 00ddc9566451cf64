"""Arbiters: registry, the rule-based language-fidelity score, combination and the language gate."""

import pytest

from expanse.arbiter import combine, score_rows, uses_reward_model
from expanse.arbiter.language_fidelity import LanguageFidelity, repetition, shortness
from expanse.generation import get_backend

FR = "Le marché du samedi matin est plein de légumes frais, de fromages et de pain chaud."
DE = "Der Markt am Samstagmorgen ist voll mit frischem Gemüse, Käse und warmem Brot."
ZH = "周六早上的市场里有很多新鲜的蔬菜、奶酪和热乎乎的面包。"


def test_repetition_and_shortness():
    assert repetition("abcdefgh") == 0.0
    assert repetition("ha ha ha ha ha ha ha ha ha ha") > 0.7
    assert shortness("x" * 200, 100) == 0.0 and shortness("", 100) == 0.5
    assert shortness("x" * 50, 100) == pytest.approx(0.25)


def test_language_fidelity_prefers_the_target_language():
    lf = LanguageFidelity(target_chars=80)
    (p_fr, s_fr), (p_de, s_de), (p_zh, s_zh), (p_empty, _) = lf.score([FR, DE, ZH, ""], ["fr", "fr", "zh", "fr"])
    assert p_fr > 0.9 and p_de < 0.1 and p_zh > 0.9 and p_empty == 0.0
    assert s_fr > s_de
    ((_, s_rep),) = lf.score([" ".join(["le marché"] * 12)], ["fr"])
    assert s_rep < s_fr


def test_language_gate_even_when_wrong_language_scores_higher():
    class FavoursGerman:
        def score(self, prompts, completions):
            return [10.0 if c == DE else 0.0 for c in completions]

    rows = [{"prompt": "q", "completion": FR, "lang": "fr"}, {"prompt": "q", "completion": DE, "lang": "fr"}]
    out = score_rows(
        rows,
        method="reward_model",
        weights={},
        min_lang_prob=0.5,
        target_chars=80,
        high_accuracy=False,
        reward_model=FavoursGerman(),
    )
    assert [o["lang_ok"] for o in out] == [True, False]
    assert out[1]["score"] > out[0]["score"]  # the gate, not the score, keeps German from winning
    assert out[0]["reward"] == 0.0


def test_combine_and_registry_errors():
    assert combine("combined", {"reward_model": 2.0, "language_fidelity": 0.5}, 1.0, 0.8) == pytest.approx(2.4)
    assert combine("language_fidelity", {}, None, 0.3) == 0.3
    with pytest.raises(ValueError, match="needs a reward"):
        combine("reward_model", {}, None, 0.3)
    with pytest.raises(KeyError, match="unknown arbiter 'oracle'"):
        uses_reward_model("oracle")
    with pytest.raises(KeyError, match="unknown generation backend 'tgi'"):
        get_backend("tgi")
    with pytest.raises(ValueError, match="needs a reward model"):
        score_rows(
            [{"prompt": "q", "completion": FR, "lang": "fr"}],
            method="combined",
            weights={},
            min_lang_prob=0.5,
            target_chars=80,
            high_accuracy=False,
        )
