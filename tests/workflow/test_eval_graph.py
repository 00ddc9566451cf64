"""The eval stage on the shrunk tiny graph (`all` ends with the report): per-language win-rates
judged in both orders, lm-eval benchmarks of every compared model, the lineage and cost of every
artifact, the report rendering in headless Chromium, Snakemake's --report, and byte-identical reruns
(but for the report's lineage section, which holds measured times)."""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import polars as pl
import pytest
from smk import params_of, planned_jobs, snakemake

from expanse.evaluation.report import PLOTS

pytestmark = pytest.mark.workflow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHECK = """<script>window.addEventListener('load', () => document.body.setAttribute('data-check', JSON.stringify({
  tables: [...document.querySelectorAll('table')].map(t => t.querySelectorAll('tbody tr').length),
  images: [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])})));</script>"""


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_win_rates_per_language_in_both_orders(built):
    p = params_of(built)
    langs, teachers = list(p["languages"]), list(p["scales"]["tiny"]["teachers"])
    arbitrage = _json(built / "results/tiny/arbitrage/summary.json")["languages"]
    for lang in langs:
        w = _json(built / f"results/tiny/eval/winrates/{lang}.json")
        assert set(w["opponents"]) == {"base", "own_family", "best_teacher", *(f"teacher.{t}" for t in teachers)}
        assert w["opponents"]["own_family"]["model"] == f"family.{p['languages'][lang]['family']}"
        assert w["opponents"]["best_teacher"]["model"] == f"teacher.{arbitrage[lang]['top_teacher']}"
        for o in w["opponents"].values():
            assert 0 <= o["ci_low"] <= o["win_rate"] <= o["ci_high"] <= 1
            assert o["wins"] + o["ties"] + o["losses"] == 2 * o["n_prompts"] == 2 * w["n_test_prompts"]
        j = pl.read_parquet(built / f"results/tiny/eval/judgements/{lang}.parquet")
        per = j.group_by("opponent", "order").len()
        assert per["len"].to_list() == [w["n_test_prompts"]] * per.height and per.height == 2 * (2 + len(teachers))
        # the per-prompt outcome is the mean over the two orders; their mean is the win-rate
        base = j.filter(pl.col("opponent") == "base")
        assert abs(base["outcome"].mean() - w["opponents"]["base"]["win_rate"]) < 1e-6


def test_benchmarks_ran_through_lm_eval_for_every_compared_model(built):
    p = params_of(built)
    families = list(p["families"])
    for bench, n_items in (("global_mmlu", 16), ("mgsm", 12)):
        for model in ("merged", "base", *(f"family.{f}" for f in families)):
            r = _json(built / f"results/tiny/eval/benchmarks/{bench}/{model}.json")
            assert set(r["languages"]) == set(p["languages"]) and r["lm_eval_version"] == "0.4.13"
            for lang, row in r["languages"].items():
                assert row["n"] == n_items and 0 <= row["value"] <= 1
                assert row["task"] == f"expanse_{'mmlu' if bench == 'global_mmlu' else 'mgsm'}_{lang}"


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_report_renders_in_headless_chromium(built, tmp_path):
    report = built / "results/tiny/eval/report.html"
    page = tmp_path / "report.html"
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"), encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
    dom = subprocess.run([*cmd, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    check = json.loads(html.unescape(dom.split('data-check="', 1)[1].split('"', 1)[0]))
    n_langs = len(params_of(built)["languages"])
    # win-rates, per language, 2 benchmarks, deltas, arbitrage, training, merge search, 5 of lineage
    assert len(check["tables"]) == 13 and check["tables"][1] == n_langs  # one row per language
    assert check["tables"][10] == n_langs  # lineage: cost per language
    assert all(rows > 0 for rows in check["tables"])
    assert len(check["images"]) == len(PLOTS)
    assert all(complete and w > 200 and h > 100 for complete, w, h in check["images"])  # decoded, not broken
    shot = Path(os.environ.get("EXPANSE_SCREENSHOT", tmp_path / "report.png"))
    subprocess.run(
        [*cmd, "--window-size=1200,4000", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_report_files_and_snakemake_report(built, tmp_path):
    eval_dir = built / "results/tiny/eval"
    metrics = _json(eval_dir / "metrics.json")
    assert set(metrics["winrate"]) >= {"base", "own_family", "best_teacher"}
    assert set(metrics["accuracy"]) == {"global_mmlu", "mgsm"}
    assert sorted(p.name for p in (eval_dir / "plots").glob("*.png")) == sorted(f"{n}.png" for n in PLOTS)
    assert (eval_dir / "winrates.csv").read_text().startswith("lang,family,opponent,")
    zip_path = tmp_path / "report.zip"
    snakemake(built, "--report", str(zip_path), "all")
    names = zipfile.ZipFile(zip_path).namelist()
    assert any(n.endswith("report.html") for n in names)
    assert any(n.endswith("plots/winrates.png") or "winrates.png" in n for n in names)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_lineage_of_every_artifact(built):
    lineage = _json(built / "results/tiny/eval/lineage.json")
    jobs = lineage["jobs"]
    # every job of the graph but the report's own two, each with its rule and wildcards
    planned = [(r, w) for r, w in planned_jobs(built, "--forceall", "all") if r not in ("eval_report", "lineage")]
    assert lineage["n_jobs"] == len(jobs) == len(planned)
    assert sorted((j["rule"], j["wildcards"].get("lang")) for j in jobs.values()) == sorted(
        (r, w.get("lang")) for r, w in planned
    )
    for name, job in jobs.items():
        for path, digest in job["outputs"].items():
            target = built / path
            if target.is_file():
                assert digest == _sha256(target), path
            assert lineage["artifacts"][path] == {"job": name, "sha256": digest}
        for path, digest in job["inputs"].items():  # an input's hash is its producer's output hash
            if path in lineage["artifacts"]:
                assert digest == lineage["artifacts"][path]["sha256"], (name, path)
        if job["benchmark"]:
            row = next(csv.DictReader((built / job["benchmark"]).open(), delimiter="\t"))
            assert job["cost"]["wall_s"] == float(row["s"]) and job["cost"]["gpus"] == 0
    teacher = next(j for j in jobs.values() if j["rule"] == "generate_teacher")
    assert teacher["params_keys"] == sorted(teacher["params_keys"]) and "seed" in teacher["params_keys"]
    assert teacher["models"][0]["path"].startswith("results/tiny/models/teachers/")
    assert teacher["code"]["script"] == "scripts/generate_teacher.py"
    sft = next(j for j in jobs.values() if j["rule"] == "train_sft")
    assert [m["path"] for m in sft["models"]] == ["results/tiny/models/base"]
    s = lineage["summary"]
    assert s["total"]["jobs"] == len(jobs) and s["total"]["wall_h"] > 0
    assert s["total"]["wall_h"] == pytest.approx(sum(t["wall_h"] for t in s["phases"].values()), abs=1e-4)
    assert set(s["languages"]) == set(params_of(built)["languages"])
    report = (built / "results/tiny/eval/report.md").read_text()
    assert "## Lineage and cost" in report and f"| {s['top_jobs'][0]['job']} |" in report


LINEAGE_SECTION = re.compile(r"<section id='lineage'>.*?</section>", re.S)


def test_eval_reruns_byte_identical(built_copy):
    eval_dir = built_copy / "results/tiny/eval"
    lang = next(iter(params_of(built_copy)["languages"]))
    keep = {
        p: (eval_dir / p).read_bytes()
        for p in (
            f"winrates/{lang}.json",
            f"judgements/{lang}.parquet",
            "benchmarks/mgsm/merged.json",
            "report.html",
            "metrics.json",
        )
    }
    snakemake(
        built_copy,
        "-c2",
        "--forcerun",
        "judge_pairwise",
        "run_benchmark",
        "eval_report",
        "--allowed-rules",
        "judge_pairwise",
        "run_benchmark",
        "eval_report",
        "--",
        f"results/tiny/eval/winrates/{lang}.json",
        "results/tiny/eval/benchmarks/mgsm/merged.json",
    )
    snakemake(built_copy, "-c2", "--forcerun", "eval_report", "--", "results/tiny/eval/report.html")
    for path, data in keep.items():
        now = (eval_dir / path).read_bytes()
        if path == "report.html":  # the lineage section holds the rerun jobs' new wall times
            assert b"<section id='lineage'>" in now
            now, data = (LINEAGE_SECTION.sub("", x.decode()).encode() for x in (now, data))
        assert now == data, path
    assert "Nothing to be done" in snakemake(built_copy, "-n", "all").stdout
