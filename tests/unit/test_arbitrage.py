"""Selection, win tables and offline pairs on in-memory rows."""

import math

import polars as pl
import pytest

from expanse.arbitrage import rank, select, win_table
from expanse.io import SCHEMAS
from expanse.pairs import best_vs_worst

PROMPTS = pl.DataFrame(
    {"id": ["p1", "p2", "p3"], "lang": ["fr"] * 3, "prompt": ["q1", "q2", "q3"], "split": ["train"] * 3}
)


def scores(rows):
    """rows: (prompt_id, teacher, completion, score, lang_ok)"""
    return pl.DataFrame(
        [
            {
                "prompt_id": p,
                "lang": "fr",
                "model": t,
                "sample": 0,
                "completion": c,
                "n_tokens": 3,
                "finish_reason": "stop",
                "reward": None,
                "lang_prob": 0.9 if ok else 0.1,
                "lang_ok": ok,
                "score": s,
            }
            for p, t, c, s, ok in rows
        ],
        schema=SCHEMAS["scores"],
    )


def test_best_valid_completion_wins_and_wrong_language_never_wins():
    df = scores(
        [
            ("p1", "a", "bonjour", 0.5, True),
            ("p1", "b", "hello", 0.9, False),
            ("p1", "c", "salut", 0.7, True),
            ("p2", "a", "hola", 2.0, False),
            ("p2", "b", "ciao", 1.0, False),  # no valid answer: no SFT row
            ("p3", "a", "oui", 0.2, True),
        ]
    )
    sel = select(df, PROMPTS)
    assert sel["prompt_id"].to_list() == ["p1", "p3"]
    p1 = sel.row(0, named=True)
    assert (p1["teacher"], p1["completion"], p1["prompt"]) == ("c", "salut", "q1")
    assert p1["margin"] == pytest.approx(0.2)  # over the runner-up in ranking order (a, 0.5)
    assert sel.row(1, named=True)["margin"] is None  # alone
    assert sel.columns == list(SCHEMAS["arbitrage"])


def test_ties_break_by_teacher_name_deterministically():
    df = scores([("p1", "b", "x", 1.0, True), ("p1", "a", "y", 1.0, True)])
    assert select(df, PROMPTS)["teacher"].to_list() == ["a"]
    assert rank(df.reverse())["model"].to_list() == ["a", "b"]


def test_win_table_counts_and_means():
    df = scores(
        [
            ("p1", "a", "x", 1.0, True),
            ("p1", "b", "y", 0.0, True),
            ("p2", "a", "x2", 0.0, True),
            ("p2", "b", "y2", 3.0, True),
            ("p3", "a", "x3", 2.0, True),
            ("p3", "b", "y3", 9.0, False),
        ]
    )
    sel = select(df, PROMPTS)
    t = win_table(df, sel, "fr")
    assert t["n_prompts"] == 3 and t["n_selected"] == 3 and t["n_no_valid_completion"] == 0
    assert t["teachers"]["a"]["wins"] == 2 and t["teachers"]["b"]["wins"] == 1
    assert t["selected_mean_score"] == pytest.approx((1 + 3 + 2) / 3)
    assert t["teachers"]["b"]["mean_score"] == pytest.approx(4.0)
    assert t["teachers"]["b"]["lang_ok_rate"] == pytest.approx(2 / 3)


def test_pairs_best_vs_worst_with_margin():
    df = scores(
        [
            ("p1", "a", "good", 1.0, True),
            ("p1", "b", "mid", 0.5, True),
            ("p1", "c", "bad", 0.1, True),
            ("p2", "a", "g", 1.0, True),
            ("p2", "b", "almost", 0.99, True),  # margin 0.01 < 0.05
            ("p3", "a", "g3", 1.0, True),
            ("p3", "b", "g3b", 1.0, True),
        ]
    )  # tie
    pairs = best_vs_worst(df, PROMPTS, min_margin=0.05, origin="offline")
    assert pairs.columns == list(SCHEMAS["pairs"])
    assert pairs.select("prompt_id", "chosen", "rejected").rows() == [("p1", "good", "bad")]
    assert pairs["origin"].to_list() == ["offline"]
    assert pairs["chosen_score"][0] - pairs["rejected_score"][0] == pytest.approx(0.9)


def test_ties_dropped_even_with_zero_min_margin():
    df = scores([("p1", "a", "x", 1.0, True), ("p1", "b", "y", 1.0, True)])
    assert best_vs_worst(df, PROMPTS, min_margin=0.0, origin="offline").height == 0


def test_wrong_language_rejected_is_kept_whatever_the_margin():
    df = scores(
        [
            ("p1", "a", "bonjour", 0.1, True),
            ("p1", "b", "hello", 5.0, False),
            ("p2", "a", "hola", 1.0, False),
            ("p2", "b", "ciao", 0.0, False),
        ]
    )  # no valid chosen
    pairs = best_vs_worst(df, PROMPTS, min_margin=0.5, origin="offline")
    assert pairs.select("prompt_id", "chosen", "rejected").rows() == [("p1", "bonjour", "hello")]


def test_identical_texts_and_single_candidates_give_no_pair():
    df = scores([("p1", "a", "same", 2.0, True), ("p1", "b", "same", 0.0, True), ("p3", "a", "only", 1.0, True)])
    assert best_vs_worst(df, PROMPTS, min_margin=0.1, origin="offline").height == 0


def test_margin_is_not_nan_for_pairs():
    df = scores([("p1", "a", "x", 1.0, True), ("p1", "b", "y", 0.0, True)])
    p = best_vs_worst(df, PROMPTS, min_margin=0.1, origin="offline").row(0, named=True)
    assert not math.isnan(p["chosen_score"] - p["rejected_score"])


def test_summary_over_languages(tmp_path):
    import json

    from expanse.arbitrage import summarize

    paths = []
    for lang, sel, singles in [("fr", 0.9, {"a": 0.5, "b": 0.9}), ("ru", 0.4, {"a": 0.6, "b": None})]:
        table = {
            "lang": lang,
            "n_prompts": 4,
            "n_selected": 3,
            "n_no_valid_completion": 1,
            "selected_mean_score": sel,
            "teachers": {
                t: {
                    "wins": 2 if t == "a" else 1,
                    "mean_score": 0.0,
                    "lang_ok_rate": 1.0,
                    "mean_score_on_selected_prompts": s,
                }
                for t, s in singles.items()
            },
        }
        paths.append(tmp_path / f"{lang}.wins.json")
        paths[-1].write_text(json.dumps(table))
    s = summarize([str(p) for p in paths], str(tmp_path / "summary.json"))
    assert s["languages"]["fr"]["beats_every_teacher"] and not s["languages"]["ru"]["beats_every_teacher"]
    assert s["languages"]["fr"]["top_teacher"] == "a" and s["total_wins"] == {"a": 4, "b": 2}
    assert s["languages_where_arbitrage_beats_every_teacher"] == 1
    assert json.loads((tmp_path / "summary.json").read_text()) == s
