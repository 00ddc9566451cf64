"""`python -m expanse.dvc_pipeline repro` with real DVC on a small pipeline: independent stages run
side by side on their own cores, a stage only after what it reads, each recorded in dvc.lock as
`dvc repro` records it; an edit reruns what it feeds and nothing else; a failed stage stops what
depends on it; a hidden scale's pipeline runs through its own file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from expanse import dvc_repro

STAGE = """
import json, os, sys, time
name, out, *ins = sys.argv[1:]
start = time.time()
if os.path.exists(f"fail-{name}"):
    sys.exit(3)
open(f"started-{name}", "w").close()
time.sleep(120 if os.path.exists(f"slow-{name}") else 1.0)
data = "".join(open(i).read() for i in ins)
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out + ".tmp", "w") as f:
    json.dump({"start": start, "end": time.time(), "cpus": sorted(os.sched_getaffinity(0)), "data": data}, f)
os.replace(out + ".tmp", out)
"""


def stage(name: str, out: str, *ins: str) -> dict:
    return {"cmd": f"python3 stage.py {name} {out} {' '.join(ins)}", "deps": ["stage.py", *ins], "outs": [out]}


PIPELINE = {
    "stages": {
        "a": stage("a", "out/a.json", "in/a.txt"),
        "b": stage("b", "out/b.json", "in/b.txt"),
        "c": stage("c", "out/c.json", "out/a.json", "out/b.json"),
    }
}


def run(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "expanse.dvc_pipeline", *args, "--root", str(root)],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def dvc_status(root: Path, path: str = "dvc.yaml") -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json", path], cwd=root, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def output(root: Path, name: str) -> dict:
    return json.loads((root / f"out/{name}.json").read_text())


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "params.yaml").write_text("scales:\n  tiny: {}\n  big: {}\n")
    (tmp_path / ".dvcignore").write_text("/pipelines/*/\n")
    (tmp_path / "stage.py").write_text(STAGE)
    (tmp_path / "in").mkdir()
    for name in "ab":
        (tmp_path / f"in/{name}.txt").write_text(f"{name}\n")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(PIPELINE, sort_keys=False))
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    return tmp_path


def test_independent_stages_run_side_by_side_and_a_stage_after_what_it_reads(repo):
    proc = run(repo, "repro")
    assert "3 stages to run" in proc.stdout and "3 stages reproduced" in proc.stdout
    a, b, c = (output(repo, n) for n in "abc")
    assert (
        c["start"] >= max(a["end"], b["end"])
        and c["data"] == (repo / "out/a.json").read_text() + (repo / "out/b.json").read_text()
    )
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2:  # a and b at once, each on its own cores; c, alone, on all of them
        assert a["start"] < b["end"] and b["start"] < a["end"]
        assert not set(a["cpus"]) & set(b["cpus"]) and sorted(a["cpus"] + b["cpus"]) == cores
        assert c["cpus"] == cores
    assert dvc_status(repo) == {}  # DVC recorded every stage
    assert set(yaml.safe_load((repo / "dvc.lock").read_text())["stages"]) == {"a", "b", "c"}
    assert "Running stage 'a'" in (repo / "logs/tiny/dvc_repro/a.log").read_text()
    # nothing changed: nothing runs
    before = {n: (repo / f"out/{n}.json").read_bytes() for n in "abc"}
    again = run(repo, "repro")
    assert again.stdout.strip() == "Data and pipelines are up to date."
    assert {n: (repo / f"out/{n}.json").read_bytes() for n in "abc"} == before


def test_the_stages_commands_come_from_the_drivers_environment_when_it_is_not_on_path(repo):
    """`.venv/bin/python -m expanse.dvc_pipeline repro` without the virtualenv activated: the stages'
    commands (`snakemake`, `python -m expanse.worker snakemake`) still run the virtualenv's."""
    import dvc

    pipeline = {"stages": {"v": {"cmd": "dvc --version > out/v.txt", "deps": ["in/a.txt"], "outs": ["out/v.txt"]}}}
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline))
    (repo / "out").mkdir()
    env = {**os.environ, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    assert subprocess.run(["sh", "-c", "command -v dvc"], env=env, capture_output=True).returncode != 0
    proc = subprocess.run(
        [sys.executable, "-m", "expanse.dvc_pipeline", "repro", "--root", str(repo)],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (repo / "out/v.txt").read_text().strip() == dvc.__version__


def test_an_edit_reruns_what_it_feeds_and_a_target_limits_the_run(repo):
    run(repo, "repro")
    before = {n: (repo / f"out/{n}.json").read_bytes() for n in "abc"}
    (repo / "in/b.txt").write_text("b, edited\n")
    assert run(repo, "repro", "--dry").stdout.split() == ["b", "c"]
    (repo / "in/a.txt").write_text("a, edited\n")
    assert run(repo, "repro", "--dry").stdout.split() == ["a", "b", "c"]
    run(repo, "repro", "a")  # only what a needs
    assert (repo / "out/a.json").read_bytes() != before["a"]
    assert [(repo / f"out/{n}.json").read_bytes() for n in "bc"] == [before["b"], before["c"]]
    assert set(dvc_status(repo)) == {"b", "c"}
    run(repo, "repro", "--cores", "1")
    assert output(repo, "c")["data"].count("edited") == 2 and dvc_status(repo) == {}


def test_a_stage_below_one_whose_outputs_came_out_unchanged_is_skipped(repo):
    """DVC's early cut-off, kept: a rerun that writes the same bytes leaves what reads them alone."""
    (repo / "norm.py").write_text(
        "import os, sys\nos.makedirs('out', exist_ok=True)\ntext = open(sys.argv[1]).read().strip().lower()\n"
        "open(sys.argv[2] + '.tmp', 'w').write(text + '\\n')\nos.replace(sys.argv[2] + '.tmp', sys.argv[2])\n"
    )
    (repo / "in/n.txt").write_text("Hello\n")
    pipeline = {
        "stages": {
            "n": {"cmd": "python3 norm.py in/n.txt out/n.txt", "deps": ["norm.py", "in/n.txt"], "outs": ["out/n.txt"]},
            "d": stage("d", "out/d.json", "out/n.txt"),
            "e": stage("e", "out/e.json", "out/d.json"),
        }
    }
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    run(repo, "repro")
    d_before = (repo / "out/d.json").read_bytes()
    os.remove(repo / "started-d")
    (repo / "in/n.txt").write_text("  HELLO \n")  # n reruns, and writes the same bytes
    assert run(repo, "repro", "--dry").stdout.split() == ["n", "d", "e"]  # what may run
    proc = run(repo, "repro")
    assert "d: skipped" in proc.stdout and "e: skipped" in proc.stdout
    assert "1 stages reproduced" in proc.stdout and "(2 skipped" in proc.stdout
    assert not (repo / "started-d").exists() and (repo / "out/d.json").read_bytes() == d_before
    assert dvc_status(repo) == {}  # DVC agrees: nothing left to run
    (repo / "in/n.txt").write_text("bye\n")  # n's output changes: d and e run
    proc = run(repo, "repro")
    assert "3 stages reproduced" in proc.stdout and "skipped" not in proc.stdout
    assert (repo / "started-d").exists() and output(repo, "d")["data"] == "bye\n"
    assert dvc_status(repo) == {}


def test_a_stage_is_skipped_when_its_upstream_changed_only_outputs_it_does_not_read(repo):
    """The cut-off compares out by out: a stage writing two files (as the code stage writes one code
    file per script) that changes one of them reruns only the stages reading that one."""
    (repo / "norm2.py").write_text(
        "import os, sys\nos.makedirs('out', exist_ok=True)\n"
        "for src, dst in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):\n"
        "    text = open(src).read().strip().lower()\n"
        "    open(dst + '.tmp', 'w').write(text + '\\n')\n    os.replace(dst + '.tmp', dst)\n"
    )
    (repo / "in/n.txt").write_text("Hello\n")
    (repo / "in/m.txt").write_text("World\n")
    pipeline = {
        "stages": {
            "n": {
                "cmd": "python3 norm2.py in/n.txt out/n.txt in/m.txt out/m.txt",
                "deps": ["norm2.py", "in/n.txt", "in/m.txt"],
                "outs": ["out/n.txt", "out/m.txt"],
            },
            "d": stage("d", "out/d.json", "out/n.txt"),
            "f": stage("f", "out/f.json", "out/m.txt"),
        }
    }
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    run(repo, "repro")
    assert dvc_repro.load_pipeline(repo, "dvc.yaml").reads["d"] == {"n": {"out/n.txt"}}
    d_before = (repo / "out/d.json").read_bytes()
    os.remove(repo / "started-d")
    os.remove(repo / "started-f")
    (repo / "in/m.txt").write_text("moon\n")  # n reruns: out/m.txt changes, out/n.txt does not
    proc = run(repo, "repro")
    assert "d: skipped" in proc.stdout and "f: skipped" not in proc.stdout
    assert "2 stages reproduced" in proc.stdout and "(1 skipped" in proc.stdout
    assert not (repo / "started-d").exists() and (repo / "out/d.json").read_bytes() == d_before
    assert (repo / "started-f").exists() and output(repo, "f")["data"] == "moon\n"
    assert dvc_status(repo) == {}  # DVC agrees: nothing left to run


def test_a_failed_stage_fails_the_run_and_what_depends_on_it_does_not_start(repo):
    (repo / "fail-a").touch()
    proc = run(repo, "repro", check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: stage a failed (exit ")
    assert f"its DVC output: {repo}/logs/tiny/dvc_repro/a.log" in last
    assert not (repo / "out/c.json").exists() and not (repo / "out/a.json").exists()
    lock = repo / "dvc.lock"
    assert not lock.exists() or set(yaml.safe_load(lock.read_text())["stages"]) <= {"b"}
    (repo / "fail-a").unlink()
    run(repo, "repro")
    assert dvc_status(repo) == {}


def test_an_interrupt_stops_the_running_stages_and_records_nothing(repo):
    (repo / "slow-a").touch()
    proc = subprocess.Popen(
        [sys.executable, "-m", "expanse.dvc_pipeline", "repro", "--cores", "1"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal (CI may ignore it)
    )
    deadline = time.monotonic() + 60
    while not (repo / "started-a").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (repo / "started-a").exists()
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends the terminal's foreground process
    out, err = proc.communicate(timeout=60)  # not the stage's 120 s
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "interrupted: a stopped"
    assert not (repo / "out/a.json").exists() and not (repo / "started-b").exists()
    assert set(dvc_status(repo)) == {"a", "b", "c"}  # nothing recorded
    assert not subprocess.run(["pgrep", "-f", "stage.py a"], capture_output=True).stdout  # the stage is gone


def test_a_hidden_scales_pipeline_runs_through_its_own_file(repo):
    (repo / "pipelines/big").mkdir(parents=True)
    (repo / "pipelines/big/dvc.yaml").write_text(
        yaml.safe_dump({"stages": {"big-a": {**stage("big-a", "out/big.json", "in/a.txt"), "wdir": "../.."}}})
    )
    run(repo, "repro", "--scale", "big")
    assert output(repo, "big")["data"] == "a\n"
    assert set(yaml.safe_load((repo / "pipelines/big/dvc.lock").read_text())["stages"]) == {"big-a"}
    assert not (repo / "out/a.json").exists()  # the default scale's stages did not run


def test_a_pipeline_of_several_files_runs_as_one(repo):
    """Stages in another file (pipelines/<scale>/.../dvc.yaml, run at the root, with
    their own dvc.lock): ordered, run and recorded with the main file's, and cut off by them."""
    (repo / ".dvcignore").write_text("/pipelines/*/\n!/pipelines/tiny/\n")
    (repo / "pipelines/tiny/join").mkdir(parents=True)
    pipeline = {"stages": {"c": {**PIPELINE["stages"]["c"], "wdir": "../../.."}}}
    (repo / "pipelines/tiny/join/dvc.yaml").write_text(yaml.safe_dump(pipeline))
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {n: PIPELINE["stages"][n] for n in "ab"}}))
    p = dvc_repro.load_pipeline(repo, ["dvc.yaml", "pipelines/tiny/join/dvc.yaml"])
    assert p.upstream == {"a": set(), "b": set(), "c": {"a", "b"}}
    assert [p.target(n) for n in "abc"] == ["a", "b", "pipelines/tiny/join/dvc.yaml:c"]
    run(repo, "repro")
    c = output(repo, "c")
    assert c["start"] >= max(output(repo, n)["end"] for n in "ab")
    assert set(yaml.safe_load((repo / "dvc.lock").read_text())["stages"]) == {"a", "b"}
    assert set(yaml.safe_load((repo / "pipelines/tiny/join/dvc.lock").read_text())["stages"]) == {"c"}
    assert (
        subprocess.run(
            [sys.executable, "-m", "dvc", "status", "--json"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        == "{}"
    )
    # an edit to a's input reruns a, then c (in the other file), and not b
    b = output(repo, "b")
    (repo / "in/a.txt").write_text("A\n")
    proc = run(repo, "repro")
    assert "2 stages reproduced" in proc.stdout and output(repo, "a")["data"] == "A\n"
    assert output(repo, "c")["data"] == (repo / "out/a.json").read_text() + (repo / "out/b.json").read_text()
    assert output(repo, "b") == b
    assert run(repo, "repro").stdout.strip() == "Data and pipelines are up to date."
    # a stage name given twice is a one-line error naming both files
    (repo / "pipelines/tiny/join/dvc.yaml").write_text(yaml.safe_dump({"stages": {"a": pipeline["stages"]["c"]}}))
    proc = run(repo, "repro", check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == (
        "error: pipelines/tiny/join/dvc.yaml: stage a is in dvc.yaml too; stage names must be unique"
    )


def test_a_stage_name_that_is_not_in_the_pipeline_is_one_line_error(repo):
    proc = run(repo, "repro", "nope", check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == (
        "error: repro nope: no such stage in dvc.yaml or pipelines/tiny/**/dvc.yaml"
    )
    assert not (repo / "logs").exists()


def test_stage_order_follows_deps_longest_chain_first(tmp_path):
    stages = {
        "models": stage("models", "m/model", "in/x"),
        "short": stage("short", "s/out", "in/x"),
        "wide": {"cmd": "x", "deps": ["in/x"], "outs": ["w/1", "w/2"]},  # as short, but more outputs
        "train": {"cmd": "x", "deps": ["m"], "outs": ["t/ckpt"]},  # a folder holding models' out
        "eval": {"cmd": "x", "deps": ["t/ckpt/weights.bin"], "outs": ["e/report"]},  # a file inside train's
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    p = dvc_repro.load_pipeline(tmp_path, "dvc.yaml")
    assert p.upstream == {"models": set(), "short": set(), "wide": set(), "train": {"models"}, "eval": {"train"}}
    assert dvc_repro.order(p, set(stages)) == ["models", "train", "wide", "eval", "short"]
    assert p.below({"train"}) == {"train", "eval"} and p.above({"train"}) == {"models", "train"}


def test_cores_are_shared_among_the_stages_that_can_start():
    assert dvc_repro.split_cores([0, 1], 1) == [[0, 1]]
    assert dvc_repro.split_cores([0, 1], 3) == [[0], [1]]
    assert dvc_repro.split_cores([0, 1, 2], 2) == [[0, 1], [2]]
    assert dvc_repro.split_cores([], 2) == []


def test_the_stages_dvc_checked_out_of_its_run_cache_are_read_from_this_runs_logs(tmp_path):
    (tmp_path / "a.log").write_text("Stage 'a' is cached - skipping run, checking out outputs\nUpdating lock file\n")
    (tmp_path / "b.log").write_text("Running stage 'b':\n> snakemake ...\nUpdating lock file\n")
    # a stage this run did not start (skipped): its log is an earlier run's
    (tmp_path / "c.log").write_text("Stage 'c' is cached - skipping run, checking out outputs\n")
    assert dvc_repro.restored_from_run_cache(tmp_path, {"a", "b", "d"}) == ["a"]
