"""The JSON artifacts' contracts: checked on write (nothing is written when an object breaks one)
and on read (a broken file is one DataError naming the file, the contract and the key path)."""

import copy
import json

import pytest

from expanse.contracts import JSON_SCHEMAS, check
from expanse.errors import DataError
from expanse.io import read_json, write_json

SEARCH = {
    "method": "coordinate",
    "budget": 4,
    "max_language_drop": 0.05,
    "families": ["romance", "slavic"],
    "chosen": {"index": 2, "weights": {"romance": 0.6, "slavic": 0.4}, "objective": -0.25, "gain_over_hand_set": 0.0},
    "candidates": [{"index": 0}],
}
WINS = {
    "lang": "fr",
    "n_prompts": 3,
    "n_selected": 2,
    "n_no_valid_completion": 1,
    "selected_mean_score": None,
    "teachers": {"a": {"wins": 2, "mean_score": 1, "lang_ok_rate": 0.5, "mean_score_on_selected_prompts": None}},
}


def test_a_conforming_object_passes_and_round_trips(tmp_path):
    path = tmp_path / "merge_search.json"
    write_json(SEARCH, path, contract="merge_search")
    assert read_json(path, "merge_search") == SEARCH
    check(WINS, "teacher_wins", "x.json")  # null where Opt allows it, an int where a number is asked


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda o: o["chosen"]["weights"].update(romance="0.6"), "chosen.weights.romance: expected a number, got str"),
        (lambda o: o["chosen"].pop("objective"), "chosen.objective: missing"),
        (lambda o: o.update(budget=4.0), "budget: expected an integer, got float"),
        (lambda o: o.update(budget=True), "budget: expected an integer, got bool"),
        (lambda o: o.update(families=["romance", 3]), "families[1]: expected a string, got int"),
        (lambda o: o.update(chosen=None), "chosen: expected an object, got null"),
    ],
)
def test_a_broken_object_is_not_written(tmp_path, edit, problem):
    obj = copy.deepcopy(SEARCH)
    edit(obj)
    path = tmp_path / "merge_search.json"
    with pytest.raises(DataError) as e:
        write_json(obj, path, contract="merge_search")
    assert str(e.value) == f"{path}: merge_search: {problem}"
    assert list(tmp_path.iterdir()) == []  # neither the artifact nor a temporary file


def test_a_broken_file_is_one_error_naming_it(tmp_path):
    path = tmp_path / "fr.wins.json"
    bad = copy.deepcopy(WINS)
    bad["teachers"]["a"]["wins"] = "2"
    path.write_text(json.dumps(bad))
    with pytest.raises(
        DataError, match=r"fr\.wins\.json: teacher_wins: teachers\.a\.wins: expected an integer, got str$"
    ):
        read_json(path, "teacher_wins")
    path.write_text("{not json")
    with pytest.raises(DataError, match=r"fr\.wins\.json: not JSON"):
        read_json(path, "teacher_wins")
    free = tmp_path / "free.json"
    write_json({"free": 1}, free)  # no contract: any JSON
    assert read_json(free) == {"free": 1}


def test_every_contract_names_a_top_level_shape():
    assert {"teacher_wins", "arbitrage_summary", "routing", "training_metrics", "training_summary"} <= set(JSON_SCHEMAS)
    assert {"merge_search", "winrates", "benchmark", "lineage", "arbiter_accuracy"} <= set(JSON_SCHEMAS)
    with pytest.raises(KeyError, match="no JSON contract 'nope'"):
        check({}, "nope", "x.json")
