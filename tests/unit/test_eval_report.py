"""The report from known per-language results: tables, metrics, CSVs, figures, byte-identical
reruns, and a missing result shown as missing."""

import json
import re

import pytest

from expanse.evaluation.report import PLOTS, write_report

FAMILY_OF = {"fr": "romance", "ru": "slavic"}
MODELS = ["merged", "base", "family.romance", "family.slavic"]


def _w(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return str(path)


def _opp(model, rate):
    return {
        "model": model,
        "win_rate": rate,
        "ci_low": max(0.0, rate - 0.2),
        "ci_high": min(1.0, rate + 0.2),
        "n_prompts": 10,
        "wins": 10,
        "ties": 0,
        "losses": 10,
        "first_position_rate": 0.5,
    }


def _arb(wins, top):
    return {
        "wins": wins,
        "top_teacher": top,
        "n_prompts": 10,
        "n_selected": 10,
        "selected_mean_score": None,
        "teacher_mean_score_on_selected_prompts": {t: None for t in wins},
        "beats_every_teacher": False,
    }


SIZES = {"global_step": 5, "train_rows": 10, "dev_rows": 2}


def _stage(before, after):
    return {**SIZES, "dev_before": before, "dev_after": after, "last_train_log": {}}


def _samples(score):
    return {"mean_score": score, "lang_ok_rate": 1.0, "n_samples": 4}


@pytest.fixture
def inputs(tmp_path):
    d = tmp_path / "in"
    winrates = [
        _w(
            d / f"w/{lang}.json",
            {
                "lang": lang,
                "model": "merged",
                "judge": "reward_model",
                "n_test_prompts": 10,
                "unparsed_verdicts": 0,
                "opponents": {
                    "base": _opp("base", base),
                    "own_family": _opp(f"family.{FAMILY_OF[lang]}", fam),
                    "best_teacher": _opp("teacher.euro", 0.3),
                },
            },
        )
        for lang, base, fam in (("fr", 0.9, 0.6), ("ru", 0.7, 0.4))
    ]
    acc = {"merged": 0.5, "base": 0.25, "family.romance": 0.375, "family.slavic": 0.5}
    benches = [
        _w(
            d / f"b/{b}/{m}.json",
            {
                "benchmark": b,
                "model": m,
                "metric": "acc,none",
                "lm_eval_version": "0.4.11",
                "num_fewshot": 0,
                "languages": {lang: {"task": f"t_{lang}", "value": v, "n": 16, "stderr": 0.1} for lang in ("fr", "ru")},
            },
        )
        for b in ("global_mmlu", "mgsm")
        for m, v in acc.items()
    ]
    arbitrage = _w(
        d / "arb.json",
        {
            "languages": {
                "fr": _arb({"euro": 8, "east": 2}, "euro"),
                "ru": _arb({"euro": 1, "east": 9}, "east"),
            },
            "total_wins": {"euro": 9, "east": 11},
            "languages_where_arbitrage_beats_every_teacher": 0,
            "n_languages": 2,
        },
    )
    training = _w(
        d / "train.json",
        {
            f: {
                "languages": [k for k, v in FAMILY_OF.items() if v == f],
                "stages": {
                    "sft": _stage({"loss": 6.0}, {"loss": 5.0}),
                    "dpo": _stage({"rewards/margins": 0.0}, {"rewards/margins": 4.0}),
                },
                "online_samples": {"it1": {"dev": _samples(-0.5)}, "it2": {"dev": _samples(-0.25)}},
            }
            for f in ("romance", "slavic")
        },
    )
    metrics = [
        (
            f,
            s,
            _w(
                d / f"{f}-{s}.json",
                {
                    **SIZES,
                    "eval_before": {"loss": 6.0},
                    "eval_after": {"loss": 5.0},
                    "train": [{"step": i, "loss": 5.0 - i / 10} for i in range(1, 6)],
                },
            ),
        )
        for f in ("romance", "slavic")
        for s in ("sft", "dpo")
    ]
    return dict(
        winrate_paths=winrates,
        benchmark_paths=benches,
        arbitrage_path=arbitrage,
        training_path=training,
        metrics=metrics,
        family_of=FAMILY_OF,
        families=["romance", "slavic"],
        models=MODELS,
    )


def _outputs(root):
    names = ("report.html", "report.md", "metrics.json", "winrates.csv", "accuracy.csv")
    return {
        k: str(root / n) for k, n in zip(("out_html", "out_md", "out_metrics", "out_winrates", "out_accuracy"), names)
    } | {"out_plots": str(root / "plots")}


def test_report_tables_metrics_and_figures(tmp_path, inputs):
    out = _outputs(tmp_path / "a")
    write_report(scale="tiny", **out, **inputs)
    metrics = json.loads(open(out["out_metrics"]).read())
    assert metrics["winrate"]["base"] == {"mean": 0.8, "fr": 0.9, "ru": 0.7}
    assert metrics["winrate"]["own_family"]["mean"] == 0.5
    assert metrics["accuracy"]["mgsm"]["merged"]["mean"] == 0.5
    html = open(out["out_html"]).read()
    assert html.count("<table>") == 7  # summary, per language, 2 benchmarks, deltas, arbitrage, training
    assert "0.90 [0.70, 1.00]" in html and "0.30 [0.10, 0.50] (euro)" in html
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) == len(PLOTS)
    assert "src='plots" not in html and "http" not in html.split("<body>")[1]  # self-contained
    md = open(out["out_md"]).read()
    assert "| fr | romance | 0.90 [0.70, 1.00]" in md and "![" in md and "(plots/winrates.png)" in md
    # merged 0.5 - romance 0.375 on fr; merged 0.5 - slavic 0.5 on ru
    assert "| fr | 0.125 | 0.125 |" in md and "| ru | 0.000 | 0.000 |" in md
    assert "| romance | fr | 6.000 → 5.000 | 0.000 → 4.000 | -0.500 → -0.250 |" in md
    for name in PLOTS:
        assert (tmp_path / "a/plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert open(out["out_winrates"]).read().splitlines()[1].startswith("fr,romance,base,base,0.9,0.7")


def test_report_is_byte_identical_on_rerun(tmp_path, inputs):
    a, b = _outputs(tmp_path / "a"), _outputs(tmp_path / "b")
    write_report(scale="tiny", **a, **inputs)
    write_report(scale="tiny", **b, **inputs)
    for key in ("out_html", "out_md", "out_metrics", "out_winrates", "out_accuracy"):
        assert open(a[key], "rb").read() == open(b[key], "rb").read(), key


def test_a_missing_result_is_shown_as_missing_not_invented(tmp_path, inputs):
    path = [p for p in inputs["benchmark_paths"] if p.endswith("mgsm/family.romance.json")][0]
    data = json.loads(open(path).read())
    del data["languages"]["fr"]
    open(path, "w").write(json.dumps(data))
    out = _outputs(tmp_path / "a")
    write_report(scale="tiny", **out, **inputs)  # the delta is left out, not invented
    md = open(out["out_md"]).read()
    assert "| fr | 0.125 | – |" in md


def _probe(rate):
    return {"probe_wins": 0, "probe_win_rate": rate, "probe_mean_score": 0.0, "probe_lang_ok_rate": 1.0}


def test_routing_decisions_are_a_table_with_the_generations_saved(tmp_path, inputs):
    arbitrage = json.loads(open(inputs["arbitrage_path"]).read())
    arbitrage["languages"]["fr"]["selected_mean_score"] = 0.25
    open(inputs["arbitrage_path"], "w").write(json.dumps(arbitrage))
    routing = [
        _w(
            tmp_path / f"in/routing/{lang}.json",
            {
                "lang": lang,
                "routing": "learned",
                "top_k": 1,
                "selected": [sel],
                "n_prompts": 12,
                "n_probe": 4,
                "n_rest": 8,
                "generations": 12,
                "generations_all": 24,
                "saved_fraction": 0.5,
                "probe_ids": [],
                "teachers": {"euro": _probe(rate), "east": _probe(1 - rate)},
            },
        )
        for lang, sel, rate in (("fr", "euro", 0.75), ("ru", "east", 0.25))
    ]
    out = _outputs(tmp_path / "a")
    write_report(scale="tiny", **out, **inputs, routing_paths=routing)
    md = open(out["out_md"]).read()
    assert "Arbitrage routing learned" in md
    assert "| fr | 4 of 12 | 0.25 | 0.75 | euro | 12 of 24 | 50.0% | 0.250 |" in md  # teachers by name: east, euro
    assert "| ru | 4 of 12 | 0.75 | 0.25 | east | 12 of 24 | 50.0% | – |" in md
    assert "| all |  |  |  |  | 24 of 48 | 50.0% |  |" in md
    assert open(out["out_html"]).read().count("<table>") == 8
    write_report(scale="tiny", **_outputs(tmp_path / "b"), **inputs)
    assert "Arbitrage routing all: every teacher answered every prompt" in open(tmp_path / "b/report.md").read()


def test_merge_search_is_a_table_and_the_intro_names_the_choice(tmp_path, inputs):
    from expanse.merging.search import search

    result = search(
        lambda w: {"fr": 2 * w[0], "ru": w[1]},
        families=["romance", "slavic"],
        start=[1, 1],
        method="coordinate",
        budget=3,
        max_language_drop=0.1,
        seed=0,
        step=0.5,
    )
    path = _w(tmp_path / "in/merge_search.json", result)
    out = _outputs(tmp_path / "a")
    write_report(scale="tiny", **out, **inputs, merge_search_paths=[path])
    md = open(out["out_md"]).read()
    assert "## Merge-weight search (coordinate, 3 candidates" in md
    assert "| 0 | hand-set | 0.500 | 0.500 | 0.750 | fr +0.000 | yes |" in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and line.endswith("| ✓ |")]
    assert len(rows) == 1 and rows[0].startswith(f"| {result['chosen']['index']} |")
    assert f"candidate {result['chosen']['index']}, {result['chosen']['gain_over_hand_set']:+.3f}" in md
    assert open(out["out_html"]).read().count("<table>") == 8
