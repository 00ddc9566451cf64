"""Budgeted arbitrage (learned routing) on in-memory rows: the probe sample, the routing decision,
the generations it saves, and the params checks."""

import json

import polars as pl
import pytest

from expanse.arbitrage import probe_ids, rest_ids, route, run_routing
from expanse.config import validate
from expanse.errors import ConfigError, DataError
from expanse.io import SCHEMAS, write_parquet


def scores(rows):
    """rows: (prompt_id, teacher, score, lang_ok)"""
    return pl.DataFrame(
        [
            {
                "prompt_id": p,
                "lang": "fr",
                "model": t,
                "sample": 0,
                "completion": f"{t}:{p}",
                "n_tokens": 3,
                "finish_reason": "stop",
                "reward": None,
                "lang_prob": 0.9 if ok else 0.1,
                "lang_ok": ok,
                "score": s,
            }
            for p, t, s, ok in rows
        ],
        schema=SCHEMAS["scores"],
    )


def test_probe_sample_is_seeded_sized_and_independent_of_order():
    ids = [f"fr-{i:03d}" for i in range(48)]
    probe = probe_ids(ids, fraction=0.25, min_probe=4, seed=1234)
    assert len(probe) == 12 and probe == sorted(probe) and set(probe) <= set(ids)
    assert probe_ids(list(reversed(ids)), fraction=0.25, min_probe=4, seed=1234) == probe
    assert probe_ids(ids, fraction=0.25, min_probe=4, seed=99) != probe  # another seed, another sample
    assert len(probe_ids(ids[:10], fraction=0.25, min_probe=4, seed=1)) == 4  # at least min_probe ...
    assert probe_ids(ids[:3], fraction=0.25, min_probe=4, seed=1) == ids[:3]  # ... but no more than there are
    # a larger fraction extends the sample (the same seeded order)
    assert set(probe) <= set(probe_ids(ids, fraction=0.5, min_probe=4, seed=1234))


def test_route_picks_the_teachers_that_win_the_probe():
    df = scores(
        [
            ("p1", "a", 0.9, True),
            ("p1", "b", 0.5, True),
            ("p1", "c", 2.0, False),  # c: wrong language
            ("p2", "a", 0.1, True),
            ("p2", "b", 0.4, True),
            ("p2", "c", 0.3, True),
            ("p3", "a", 0.8, True),
            ("p3", "b", 0.2, True),
            ("p3", "c", 0.1, True),
        ]
    )
    r = route(df, ["a", "b", "c"], top_k=1)
    assert r["selected"] == ["a"]
    assert {t: v["probe_wins"] for t, v in r["teachers"].items()} == {"a": 2, "b": 1, "c": 0}
    assert r["teachers"]["c"]["probe_lang_ok_rate"] == pytest.approx(2 / 3)
    assert route(df, ["a", "b", "c"], top_k=2)["selected"] == ["a", "b"]
    # equal wins: the higher mean probe score goes first, then the name
    tie = scores([("p1", "a", 1.0, True), ("p1", "b", 0.0, True), ("p2", "a", 0.0, True), ("p2", "b", 1.5, True)])
    assert route(tie, ["a", "b"], top_k=1)["selected"] == ["b"]
    same = scores([("p1", "a", 1.0, True), ("p1", "b", 0.0, True), ("p2", "a", 0.0, True), ("p2", "b", 1.0, True)])
    assert route(same, ["b", "a"], top_k=1)["selected"] == ["a"]
    with pytest.raises(DataError, match="'d' has no probe scores"):
        route(df, ["a", "b", "c", "d"], top_k=1)


def test_routing_decision_counts_the_generations_saved(tmp_path):
    ids = [f"fr-{i:03d}" for i in range(12)]
    prompts = pl.DataFrame(
        {
            "id": ids + ["fr-t1"],
            "lang": ["fr"] * 13,
            "prompt": ["q"] * 13,
            "split": ["train"] * 10 + ["dev", "dev", "test"],
        }
    )
    write_parquet(prompts, tmp_path / "prompts.parquet", contract="prompts")
    probe = probe_ids(ids, fraction=0.25, min_probe=4, seed=7)
    paths = []
    for t, base in (("a", 0.0), ("b", 1.0), ("c", 0.5)):
        write_parquet(scores([(p, t, base, True) for p in probe]), tmp_path / f"{t}.parquet", contract="scores")
        paths.append(str(tmp_path / f"{t}.parquet"))
    out = run_routing(
        paths,
        str(tmp_path / "prompts.parquet"),
        str(tmp_path / "fr.json"),
        lang="fr",
        teachers=["a", "b", "c"],
        top_k=1,
        probe={"fraction": 0.25, "min_probe": 4},
        seed=7,
    )
    assert json.loads((tmp_path / "fr.json").read_text()) == out
    assert out["selected"] == ["b"] and out["probe_ids"] == probe and out["n_prompts"] == 12  # test split excluded
    # 4 probe prompts x 3 teachers + 8 others x 1 teacher, against 12 x 3
    assert (out["generations"], out["generations_all"]) == (20, 36) and out["saved_fraction"] == pytest.approx(16 / 36)
    assert rest_ids(prompts, out) == [i for i in ids if i not in probe]
    # scores of other prompts than the probe (here: a probe of another size) are refused
    with pytest.raises(DataError, match="do not cover exactly the probe prompts"):
        run_routing(
            paths,
            str(tmp_path / "prompts.parquet"),
            str(tmp_path / "x.json"),
            lang="fr",
            teachers=["a", "b", "c"],
            top_k=1,
            probe={"fraction": 0.5, "min_probe": 4},
            seed=7,
        )


def test_routing_params_are_checked(params):
    params["scales"]["tiny"]["arbitrage"] = {"routing": "learned", "top_k": 3}
    with pytest.raises(ConfigError) as e:
        validate(params)
    assert str(e.value).startswith("params.yaml: scales.tiny") and "arbitrage.top_k" in str(e.value)
    assert "\n" not in str(e.value)
    params["scales"]["tiny"]["arbitrage"] = {"routing": "cheapest"}
    with pytest.raises(ConfigError, match="scales.tiny.arbitrage.routing"):
        validate(params)
    params["scales"]["tiny"]["arbitrage"] = {"routing": "learned", "probe_fraction": 1.0}
    with pytest.raises(ConfigError, match="scales.tiny.arbitrage.probe_fraction"):
        validate(params)
    params["scales"]["tiny"]["arbitrage"] = {"routing": "learned", "top_k": 2}
    assert validate(params).scales["tiny"].arbitrage.top_k == 2
