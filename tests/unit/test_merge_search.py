"""Merge-weight search on a known objective: every candidate in the trace, the floor, the choice,
the budget, determinism, and the params checks."""

import pytest

from expanse.config import validate
from expanse.errors import ConfigError
from expanse.merging.search import assess, normalise, search

FAMILIES = ["romance", "slavic", "asian"]
# a language's score is linear in the weights: fr likes romance, ru slavic, ja asian
GAIN = {"fr": [3.0, 0.0, 0.0], "ru": [0.0, 1.0, 0.0], "ja": [0.0, 0.0, 1.0]}


def linear(weights):
    return {lang: sum(g * w for g, w in zip(gain, weights)) for lang, gain in GAIN.items()}


def test_assess_applies_the_floor_against_the_reference():
    ref = {"fr": 1.0, "ru": 1.0}
    assert assess({"fr": 2.0, "ru": 0.95}, ref, 0.1) == {
        "objective": 1.475,
        "worst_language": "ru",
        "worst_delta": -0.05,
        "feasible": True,
    }
    assert not assess({"fr": 2.0, "ru": 0.85}, ref, 0.1)["feasible"]
    assert normalise([1, 1, 2]) == [0.25, 0.25, 0.5]
    with pytest.raises(ConfigError):
        normalise([0, 0])


def test_coordinate_search_climbs_and_the_floor_keeps_every_language():
    # without a floor the search moves weight to romance (fr's gain is 3x); with a tight floor,
    # no step that costs ru or ja more than 0.02 is taken
    free = search(
        linear,
        families=FAMILIES,
        start=[1, 1, 1],
        method="coordinate",
        budget=9,
        max_language_drop=10.0,
        seed=0,
        step=0.5,
    )
    assert len(free["candidates"]) == 9 and free["candidates"][0]["note"] == "hand-set"
    assert free["chosen"]["weights"]["romance"] > 0.5 and free["chosen"]["gain_over_hand_set"] > 0
    objectives = [c["objective"] for c in free["candidates"]]
    assert free["chosen"]["objective"] == max(objectives)
    tight = search(
        linear,
        families=FAMILIES,
        start=[1, 1, 1],
        method="coordinate",
        budget=9,
        max_language_drop=0.02,
        seed=0,
        step=0.5,
    )
    assert tight["chosen"]["index"] == 0  # every improving move drops ru or ja below the floor
    assert any(c["objective"] > tight["chosen"]["objective"] and not c["feasible"] for c in tight["candidates"])


def test_random_search_is_seeded_and_chooses_the_best_feasible_candidate():
    a = search(linear, families=FAMILIES, start=[1, 1, 1], method="random", budget=6, max_language_drop=0.3, seed=5)
    b = search(linear, families=FAMILIES, start=[1, 1, 1], method="random", budget=6, max_language_drop=0.3, seed=5)
    assert a == b and len(a["candidates"]) == 6
    assert (
        search(linear, families=FAMILIES, start=[1, 1, 1], method="random", budget=6, max_language_drop=0.3, seed=6)[
            "candidates"
        ][1]["weights"]
        != a["candidates"][1]["weights"]
    )
    feasible = [c for c in a["candidates"] if c["feasible"]]
    assert a["chosen"]["index"] == max(feasible, key=lambda c: c["objective"])["index"]
    for c in a["candidates"]:
        assert c["scores"] == {k: round(v, 6) for k, v in sorted(linear(list(c["weights"].values())).items())}
    with pytest.raises(ConfigError, match="unknown merge search method"):
        search(linear, families=FAMILIES, start=[1, 1, 1], method="grid", budget=2, max_language_drop=0, seed=0)


def test_search_params_are_checked(params):
    params["scales"]["tiny"]["merge"]["search"] = {"enabled": True, "method": "bayes"}
    with pytest.raises(ConfigError, match="scales.tiny.merge.search.method"):
        validate(params)
    params["scales"]["tiny"]["merge"]["search"] = {"enabled": True, "max_language_drop": -1}
    with pytest.raises(ConfigError, match="scales.tiny.merge.search.max_language_drop"):
        validate(params)
    p = validate(
        params
        | {
            "scales": {
                **params["scales"],
                "tiny": {
                    **params["scales"]["tiny"],
                    "merge": {"method": "linear", "search": {"enabled": True, "budget": 3}},
                },
            }
        }
    )
    assert p.scales["tiny"].merge.search.budget == 3 and not p.scales["32b"].merge.search.enabled
