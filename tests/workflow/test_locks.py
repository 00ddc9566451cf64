"""Concurrent runs in one directory keep their locks (expanse/graph.py: install_lock_patch).

Snakemake 9.27.1 alone: when a second run finishes it deletes .snakemake/locks, and a third run then
builds the first run's outputs at the same time. These run the project's own Snakefile (so its
rules/common.smk hook) in a copy of the repo, with two probe rules appended: a slow one that holds
its job until the test releases it, and a fast unrelated one."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from shrink import copy_repo
from smk import SNAKEMAKE, snakemake

PROBE_RULES = """

rule lock_probe_slow:
    output:
        "lockprobe/a.txt",
    shell:
        "echo started >> lockprobe/starts; "
        "for i in $(seq 600); do [ -e lockprobe/release ] && break; sleep 0.2; done; touch {output}"


rule lock_probe_fast:
    output:
        "lockprobe/b.txt",
    shell:
        "touch {output}"
"""


def probe_repo(tmp_path: Path) -> Path:
    root = copy_repo(tmp_path / "repo")
    with open(root / "Snakefile", "a") as f:
        f.write(PROBE_RULES)
    (root / "lockprobe").mkdir()
    return root


def start(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*SNAKEMAKE, *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def starts(root: Path) -> int:
    path = root / "lockprobe" / "starts"
    return len(path.read_text().splitlines()) if path.exists() else 0


def wait(condition, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_finished_run_leaves_the_others_locks_and_a_third_run_is_refused(tmp_path):
    root = probe_repo(tmp_path)
    first = start(root, "-c1", "lockprobe/a.txt")
    third = None
    try:
        wait(lambda: starts(root) == 1, first, 180)
        if starts(root) != 1:
            first.kill()
            raise AssertionError(f"the first run did not start its job:\n{first.communicate()[0][-4000:]}")

        snakemake(root, "-c1", "lockprobe/b.txt", timeout=180)  # the second run: unrelated, finishes
        assert list((root / ".snakemake" / "locks").glob("*.output.lock")), (
            "the second run's end removed the first run's lock"
        )

        third = start(root, "-c1", "lockprobe/a.txt")
        wait(lambda: starts(root) > 1, third, 180)
        building = starts(root) > 1
        if third.poll() is None:
            (root / "lockprobe" / "release").touch()  # its job ends and closes the output pipe
            third.kill()
        out = third.communicate(timeout=60)[0]
        assert not building, "a third run built the first run's output at the same time"
        assert third.returncode != 0 and "Directory cannot be locked" in out, out[-4000:]
    finally:
        (root / "lockprobe" / "release").touch()
        if third is not None and third.poll() is None:
            third.kill()
            third.wait()
        try:
            first.wait(timeout=120)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait()
    assert first.returncode == 0, first.stdout.read()[-4000:]
    assert (root / "lockprobe" / "a.txt").exists()
    assert not list((root / ".snakemake" / "locks").glob("*.lock")), "the first run did not release its lock"


def test_unlock_still_removes_every_lock(tmp_path):
    """A run killed hard leaves its lock behind; `snakemake --unlock` removes it (and any other)."""
    root = probe_repo(tmp_path)
    locks = root / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text("lockprobe/b.txt\n")
    (locks / "1.input.lock").write_text("lockprobe/a.txt\n")
    snakemake(root, "--unlock", timeout=180)
    assert not locks.exists() or not list(locks.iterdir())


def test_the_patch_refuses_another_snakemake(monkeypatch):
    import snakemake as snakemake_pkg

    from expanse import graph
    from expanse.errors import ExpanseError

    monkeypatch.setattr(snakemake_pkg, "__version__", "9.99.0")
    with pytest.raises(ExpanseError, match=r"patches Snakemake 9\.27\.1's lock release but Snakemake 9\.99\.0"):
        graph.install_lock_patch()
