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


def test_scoring_and_generation_name_bad_prompt_ids(tmp_path):
    import polars as pl

    from expanse.arbiter import run_scoring
    from expanse.arbiter.config import ArbiterCfg
    from expanse.errors import DataError
    from expanse.generation import _prompts
    from expanse.io import write_parquet

    prompts = tmp_path / "prompts.parquet"
    write_parquet(pl.DataFrame({"id": ["fr-0"], "lang": ["fr"], "prompt": ["q"], "split": ["train"]}), prompts)
    gens = tmp_path / "gens.parquet"
    row = {"prompt_id": "fr-9", "lang": "fr", "model": "m", "sample": 0, "completion": FR, "n_tokens": 3}
    write_parquet(pl.DataFrame([{**row, "finish_reason": "stop"}]), gens, contract="generations")
    arbiter = ArbiterCfg(method="language_fidelity", target_chars=80, batch_size=4)
    with pytest.raises(DataError, match="gens.parquet: prompt ids not in .*prompts.parquet"):
        run_scoring(str(gens), str(prompts), str(tmp_path / "s.parquet"), arbiter=arbiter, reward_model=None)
    with pytest.raises(DataError, match=r"prompts.parquet: no prompts \['fr-9'\] in splits train, dev"):
        _prompts(str(prompts), ("train", "dev"), ["fr-9"])


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
