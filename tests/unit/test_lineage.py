"""Lineage and cost from known inputs: benchmark files, GPU-hours, totals per phase / family /
language, content hashes (and their cache), model references, the git version, the report's
section, and the planned GPU-hours of the 32b graph from its resources table."""

import hashlib
import os
import subprocess
import sys

import pytest
import yaml

from expanse.evaluation.report import lineage_summary, lineage_tables
from expanse.lineage import Hasher, git_version, job_cost, models_of, read_benchmark, summarize

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_benchmark_file_and_gpu_hours(tmp_path):
    tsv = tmp_path / "b.tsv"
    tsv.write_text(HEADER + "7200.5\t2:00:00\t1536.25\t2000\t1400\t1450\t10\t20\t95.0\t6000.0\n")
    assert read_benchmark(tsv) == {"wall_s": 7200.5, "cpu_s": 6000.0, "max_rss_mb": 1536.25}
    cost = job_cost(read_benchmark(tsv), gpus=8, runtime_min=1440)
    assert cost["gpu_hours"] == pytest.approx(7200.5 / 3600 * 8) and cost["planned_gpu_hours"] == 192.0
    # psutil could not measure: NA, not a number; a job without a benchmark file is "not measured"
    tsv.write_text(HEADER + "3.0\t0:00:03\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n")
    assert read_benchmark(tsv) == {"wall_s": 3.0, "cpu_s": None, "max_rss_mb": None}
    assert read_benchmark(tmp_path / "missing.tsv") is None
    missing = job_cost(None, gpus=4, runtime_min=60)
    assert not missing["measured"] and missing["gpu_hours"] is None and missing["planned_gpu_hours"] == 4.0


def _job(phase, wc, wall, gpus=0, runtime=60, rss=100.0):
    return {
        "rule": phase + "_rule",
        "phase": phase,
        "wildcards": wc,
        "cost": job_cost(
            {"wall_s": wall, "cpu_s": wall / 2, "max_rss_mb": rss} if wall is not None else None,
            gpus=gpus,
            runtime_min=runtime,
        ),
    }


def test_totals_per_phase_family_language_and_the_most_expensive_jobs():
    jobs = {
        "gen-fr-a": _job("arbitrage", {"lang": "fr", "teacher": "a"}, 3600, gpus=1),
        "gen-ru-a": _job("arbitrage", {"lang": "ru", "teacher": "a"}, 1800, gpus=1, rss=900.0),
        "sft-romance": _job("sft", {"family": "romance"}, 7200, gpus=8, runtime=240),
        "sample-romance-1-fr": _job("online", {"family": "romance", "it": "1", "lang": "fr"}, 360, gpus=1),
        "merge": _job("merge", {}, 600),
        "prompts-fr": _job("prompts", {"lang": "fr"}, None),
    }
    s = summarize(jobs, {"fr": "romance", "ru": "slavic"}, top=3)
    assert s["phases"]["arbitrage"] == {
        "jobs": 2,
        "measured_jobs": 2,
        "wall_h": 1.5,
        "cpu_h": 0.75,
        "gpu_hours": 1.5,
        "planned_gpu_hours": 2.0,
        "max_rss_mb": 900.0,
    }
    assert s["phases"]["prompts"]["measured_jobs"] == 0 and s["phases"]["prompts"]["wall_h"] == 0
    assert s["total"]["jobs"] == 6 and s["total"]["gpu_hours"] == pytest.approx(1 + 0.5 + 16 + 0.1)
    # a language's jobs count toward its family; a family job toward its family only
    assert s["families"]["romance"]["jobs"] == 4 and s["families"]["romance"]["gpu_hours"] == pytest.approx(17.1)
    assert s["families"]["slavic"]["gpu_hours"] == pytest.approx(0.5)
    assert s["languages"]["fr"]["jobs"] == 3 and "merge" not in s["languages"]
    assert [j["job"] for j in s["top_jobs"]] == ["sft-romance", "gen-fr-a", "gen-ru-a"]


def test_hashes_of_files_and_directories_and_the_cache(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    (ckpt / "model.safetensors").write_bytes(b"w" * 1000)
    cache = tmp_path / "cache.json"
    h = Hasher(cache)
    assert h(ckpt / "model.safetensors") == hashlib.sha256(b"w" * 1000).hexdigest()
    first = h(ckpt)
    h.save()
    assert Hasher(None)(ckpt) == first and h(tmp_path / "nothing") is None
    # the cache answers for a file whose size, mtime and inode are unchanged (it is not read again) ...
    stat = (ckpt / "model.safetensors").stat()
    with open(ckpt / "model.safetensors", "r+b") as f:
        f.write(b"v")
    os.utime(ckpt / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert Hasher(cache)(ckpt) == first
    # ... and a new mtime makes it read the file
    os.utime(ckpt / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))
    changed = Hasher(cache)(ckpt)
    assert changed != first and changed == Hasher(None)(ckpt)
    # a renamed file changes a directory's hash
    (ckpt / "config.json").rename(ckpt / "config2.json")
    assert Hasher(None)(ckpt) != changed


def test_models_from_references_and_checkpoint_inputs(tmp_path):
    (tmp_path / "results/ckpt").mkdir(parents=True)
    (tmp_path / "results/ckpt/config.json").write_text("{}")
    (tmp_path / "results/data.parquet").write_bytes(b"x")
    params = {
        "teacher": {"location": "Qwen/Qwen2.5-7B-Instruct", "load": {"revision": "abc123"}},
        "judge": {"location": "google/gemma-2-9b-it", "load": {"use_safetensors": True}},
        "seed": 1,
        "generation": {"location_like": 1},
    }
    hasher = Hasher(None)
    models = models_of(
        params,
        lambda p: hasher(tmp_path / p),
        inputs=[tmp_path / "results/ckpt", tmp_path / "results/data.parquet"],
        root=tmp_path,
    )
    assert models == [
        {"role": "teacher", "hf": "Qwen/Qwen2.5-7B-Instruct", "revision": "abc123", "trust_remote_code": False},
        {"role": "judge", "hf": "google/gemma-2-9b-it", "revision": "main (unpinned)", "trust_remote_code": False},
        {"role": "input", "path": "results/ckpt", "sha256": hasher(tmp_path / "results/ckpt")},
    ]


def test_git_version_marks_uncommitted_code(tmp_path):
    assert git_version(tmp_path) == {"commit": None, "dirty": None}
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts/a.py").write_text("x = 1\n")
    (tmp_path / "notes.txt").write_text("a\n")
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-qm", "c"]):
        subprocess.run(["git", *cmd], cwd=tmp_path, check=True, env=env)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert git_version(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "notes.txt").write_text("b\n")  # not code
    assert git_version(tmp_path)["dirty"] is False
    (tmp_path / "scripts/a.py").write_text("x = 2\n")
    assert git_version(tmp_path) == {"commit": head, "dirty": True}


def test_report_section_from_a_lineage(tmp_path):
    jobs = {
        "gen-fr-a": {
            **_job("arbitrage", {"lang": "fr"}, 3600, gpus=1),
            "models": [{"role": "teacher", "hf": "o/m", "revision": "r1", "trust_remote_code": False}],
        },
        "sft-romance": {
            **_job("sft", {"family": "romance"}, 7200, gpus=8),
            "models": [{"role": "input", "path": "results/x", "sha256": "ab" * 32}],
        },
    }
    lineage = {
        "code": {"commit": "c0ffee", "dirty": False, "snakemake": "9"},
        "n_jobs": 2,
        "n_artifacts": 3,
        "jobs": jobs,
        "summary": summarize(jobs, {"fr": "romance"}),
    }
    tables = dict((t, rows) for t, _, rows in lineage_tables({"lineage": lineage_summary(lineage)}))
    assert tables["Cost per phase"][0][:6] == ["sft", "1", "1", "2.000", "1.000", "16.000"]
    assert tables["Cost per phase"][-1][0] == "total" and tables["Cost per phase"][-1][5] == "17.000"
    assert tables["Models used"] == [["o/m", "r1", "1"], ["results/x", "abababababab", "1"]]
    assert [r[0] for r in tables["Most expensive jobs"]] == ["sft-romance", "gen-fr-a"]
    assert lineage_tables({"lineage": None}) == []


def test_planned_gpu_hours_of_the_32b_graph_come_from_its_resources_table():
    out = subprocess.run(
        [sys.executable, "-m", "expanse.lineage", "plan", "--scale", "32b"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    p = yaml.safe_load(open(os.path.join(REPO, "params.yaml")))
    s, families = p["scales"]["32b"], len(p["families"])
    res = s["resources"]
    rows = {
        line.split()[0]: line.split()[1:]
        for line in out.stdout.splitlines()
        if line[:1].isalpha() and len(line.split()) == 3
    }
    sft = families * res["sft"]["runtime"] / 60 * res["sft"]["gpu"]
    assert rows["sft"] == [str(families), f"{sft:.1f}"]
    teachers, langs = len(s["teachers"]), len(p["languages"])
    # arbitrage: every language x teacher generates (generate class) and is scored (score class)
    arbitrage = (
        langs
        * teachers
        * (
            res["generate"]["runtime"] / 60 * res["generate"]["gpu"]
            + res["score"]["runtime"] / 60 * res["score"]["gpu"]
        )
    )
    assert float(rows["arbitrage"][1]) == pytest.approx(arbitrage)
    assert rows["merge"][1] == "0.0"  # the streaming merge runs on CPUs
    bad = subprocess.run(
        [sys.executable, "-m", "expanse.lineage", "plan", "--scale", "70b"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: params.yaml: scales has no '70b' (known: tiny, 8b, 32b)"
    ]


def test_a_jobs_lineage_records_the_code_it_runs():
    """A job's entry names its script, the project modules the script imports (transitively) and
    their fingerprint, the param that reruns the job when one is edited (not a parameter value)."""
    from pathlib import Path

    from expanse.fingerprint import fingerprint
    from expanse.lineage import Hasher, _params, describe, graph

    root = Path(REPO)
    with graph(root, _params(root), "tiny") as (planned, jobs):
        by_name = {j.name: j for j in jobs}
        names = ("train_sft-romance", "build_pairs-fr")
        described = {n: describe(by_name[n], planned, root, Hasher(None)) for n in names}
    for name, script in (("train_sft-romance", "scripts/train_sft.py"), ("build_pairs-fr", "scripts/build_pairs.py")):
        code, entry = fingerprint(script, root), described[name]
        assert entry["code"]["script"] == script
        assert entry["code"]["fingerprint"] == code.sha256 and entry["code"]["modules"] == list(code.modules)
        assert "code" not in entry["params"]
    assert "expanse/training/trainers.py" in described["train_sft-romance"]["code"]["modules"]
    assert "expanse/pairs.py" in described["build_pairs-fr"]["code"]["modules"]
    assert "expanse/training/trainers.py" not in described["build_pairs-fr"]["code"]["modules"]


def test_a_warm_jobs_cost_adds_its_childs_cpu_and_memory(tmp_path):
    from expanse.worker import read_usage, usage_line

    tsv = tmp_path / "b.tsv"
    tsv.write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        "12.5\t0:00:12\t40.0\t50\t30\t35\t0\t0\t1\t0.4\n"
    )
    log = tmp_path / "job.log"
    usage = {"pid": 4242, "wall_s": 12.1, "user_s": 9.5, "sys_s": 0.75, "max_rss_mb": 812.5}
    log.write_text("Loading weights\n" + usage_line(usage) + "\n")
    assert read_usage(log.read_text()) == usage
    assert read_benchmark(tsv, log) == {"wall_s": 12.5, "cpu_s": 10.65, "max_rss_mb": 812.5}
    log.write_text(usage_line(usage) + "\nerror: a line after it\n")  # not the last line: not this run's
    assert read_benchmark(tsv, log) == {"wall_s": 12.5, "cpu_s": 0.4, "max_rss_mb": 40.0}
    assert read_benchmark(tsv, tmp_path / "none.log") == read_benchmark(tsv)
