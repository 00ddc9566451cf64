"""The warm worker (expanse.worker) with real processes: a job script that calls run_script is run
by a child of the server, with the job's standard streams, directory, umask, environment and argv,
and exits with the child's status; a killed job takes its child with it; a dead server fails the
job instead of hanging it. Each test module gets its own server (its own XDG_RUNTIME_DIR)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from expanse import worker

JOB = """
__real_file__ = __file__  # what Snakemake's script preamble sets: this file is the job's script
import json, os, sys, time
from types import SimpleNamespace
from expanse.logs import run_script
from expanse.errors import DataError

warm_at_start = "torch" in sys.modules
smk = SimpleNamespace(log=[os.environ["JOB_LOG"]], resources={"gpu": int(os.environ.get("JOB_GPU", "0"))})


def main(smk):
    import expanse.worker as w
    out = sys.argv[1]
    what = os.environ.get("JOB_DO", "")
    if what == "sleep":
        open(out + ".pid", "w").write(str(os.getpid()))
        time.sleep(60)
        open(out + ".finished", "w").write("yes")
        return
    print("to the log")
    if what == "data_error":
        raise DataError("prompts/fr.jsonl:3: a bad line")
    if what == "crash":
        raise RuntimeError("boom")
    if what == "exit3":
        sys.exit(3)
    if what == "realloc":  # page faults of a second 256 MB buffer after the first one is freed
        import resource
        faults = []
        for _ in range(2):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            buf = bytearray(256 << 20)  # zero-filled: every page is touched
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
            del buf
        with open(out, "w") as f:
            json.dump({"faults": faults, "warm_env": os.environ.get("EXPANSE_WARM")}, f)
        return
    with open(out, "w") as f:
        json.dump({"pid": os.getpid(), "ppid": os.getppid(), "cwd": os.getcwd(), "umask": os.umask(0o022),
                   "var": os.environ.get("JOB_VAR"), "warm_env": os.environ.get("EXPANSE_WARM"), "argv": sys.argv,
                   "warm_at_start": warm_at_start, "cpus": sorted(os.sched_getaffinity(0)),
                   "fresh_worker_module": getattr(w, "SERVING", None) is None}, f)


run_script(main, smk)
"""


@pytest.fixture(scope="module")
def rundir(tmp_path_factory):
    d = tmp_path_factory.mktemp("xdg")
    d.chmod(0o700)
    yield d
    env = {**os.environ, "XDG_RUNTIME_DIR": str(d)}
    subprocess.run([sys.executable, "-m", "expanse.worker", "stop"], env=env, capture_output=True)


@pytest.fixture
def job(tmp_path, rundir):
    script = tmp_path / "job.py"
    script.write_text(JOB)

    def run(*, env=None, umask=None, cwd=None, cpus=None, **kw):
        full = {k: v for k, v in os.environ.items() if k not in ("SLURM_JOB_ID", worker.ENV_SWITCH)}
        full.update({"XDG_RUNTIME_DIR": str(rundir), "JOB_LOG": str(tmp_path / "job.log"), **(env or {})})

        def pre():
            if umask is not None:
                os.umask(umask)
            if cpus is not None:
                os.sched_setaffinity(0, cpus)

        return subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "out.json")],
            env=full,
            cwd=cwd or tmp_path,
            preexec_fn=pre,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kw,
        )

    run.out = tmp_path / "out.json"
    run.log = tmp_path / "job.log"
    return run


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def server_pid(rundir) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "expanse.worker", "status"],
        env={**os.environ, "XDG_RUNTIME_DIR": str(rundir)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pids = [int(line.rsplit(" ", 1)[1]) for line in out.splitlines() if ": pid " in line]
    assert len(pids) == 1, out
    return pids[0]


def test_a_job_runs_in_a_child_of_the_server_with_the_callers_context(job, tmp_path, rundir):
    sub = tmp_path / "sub"
    sub.mkdir()
    proc = job(env={"JOB_VAR": "fr"}, umask=0o027, cwd=sub)
    rc, out, err = finish(proc)
    assert rc == 0, err
    seen = json.loads(job.out.read_text())
    assert seen["pid"] != proc.pid and seen["ppid"] == server_pid(rundir)
    assert seen["cwd"] == str(sub) and seen["umask"] == 0o027 and seen["var"] == "fr"
    assert seen["argv"] == [str(tmp_path / "job.py"), str(job.out)]
    assert seen["warm_at_start"] is True  # torch was imported before the script ran
    assert seen["warm_env"] == "0"  # the child runs main itself, and so do its subprocesses
    assert seen["fresh_worker_module"] is True  # project modules are imported again from disk
    log = job.log.read_text()
    assert "to the log" in log
    usage = worker.read_usage(log)  # the child's CPU time and memory end the job's log
    assert usage["pid"] == seen["pid"] and usage["max_rss_mb"] > 100 and usage["user_s"] >= 0
    # a second job is served by the same server
    rc, _, err = finish(job(env={"JOB_VAR": "es"}))
    assert rc == 0 and json.loads(job.out.read_text())["ppid"] == seen["ppid"], err


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to pin jobs apart")
def test_a_warm_child_runs_on_the_cores_its_job_was_given(job, rundir):
    """A job pinned to some cores (a stage of `dvc_pipeline repro`) keeps them in the server's
    child, whichever cores the job that started the server had."""
    first, last = min(os.sched_getaffinity(0)), max(os.sched_getaffinity(0))
    seen = []
    for cpus in ([last], [first], None):
        rc, _, err = finish(job(cpus=cpus))
        assert rc == 0, err
        seen.append(json.loads(job.out.read_text()))
    assert len({s["ppid"] for s in seen}) == 1  # one server served all three
    assert [s["cpus"] for s in seen] == [[last], [first], sorted(os.sched_getaffinity(0))]


def test_exit_status_and_errors_reach_the_job(job):
    rc, _, err = finish(job(env={"JOB_DO": "data_error"}))
    assert rc == 1
    assert err.strip().splitlines()[-1] == "error: prompts/fr.jsonl:3: a bad line"  # the terminal gets one line
    assert "error: prompts/fr.jsonl:3: a bad line" in job.log.read_text()
    rc, _, _ = finish(job(env={"JOB_DO": "crash"}))
    assert rc == 1 and "RuntimeError: boom" in job.log.read_text()
    rc, _, _ = finish(job(env={"JOB_DO": "exit3"}))
    assert rc == 3


@pytest.mark.parametrize(
    "env", [{"EXPANSE_WARM": "0"}, {"SLURM_JOB_ID": "42"}, {"JOB_GPU": "1"}, {"NOT_SNAKEMAKE": "1"}]
)
def test_jobs_that_must_not_be_forwarded_run_in_their_own_process(job, env, tmp_path):
    if env.get("NOT_SNAKEMAKE"):  # a script run without Snakemake's preamble (runpy, python -c) is not re-runnable
        script = tmp_path / "job.py"
        script.write_text(script.read_text().replace("__real_file__ = __file__", "", 1))
    proc = job(env=env)
    rc, _, err = finish(proc)
    assert rc == 0, err
    seen = json.loads(job.out.read_text())
    assert seen["pid"] == proc.pid and seen["warm_at_start"] is False
    assert "warm worker" not in job.log.read_text()


def test_killing_the_job_kills_its_child_before_it_finishes(job):
    proc = job(env={"JOB_DO": "sleep"}, start_new_session=True)
    pidfile = Path(str(job.out) + ".pid")
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    assert child != proc.pid
    os.killpg(proc.pid, signal.SIGKILL)  # what a kill of Snakemake's process group does to a job
    proc.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
    assert not Path(str(job.out) + ".finished").exists()


def test_a_dead_server_fails_the_job_and_the_next_job_starts_a_new_one(job, rundir):
    proc = job(env={"JOB_DO": "sleep"})
    pidfile = Path(str(job.out) + ".pid")
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child, old = int(pidfile.read_text()), server_pid(rundir)
    os.kill(old, signal.SIGKILL)
    rc, _, err = finish(proc)
    assert rc == 1 and "warm worker went away" in err
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)  # the child dies with its server
    rc, _, err = finish(job())  # the killed server left its socket behind
    assert rc == 0, err
    assert json.loads(job.out.read_text())["ppid"] not in (old, None)


def test_a_runtime_dir_others_can_open_is_refused_and_the_job_runs_cold(job, tmp_path):
    xdg = tmp_path / "xdg"
    (xdg / "expanse-worker").mkdir(parents=True)
    (xdg / "expanse-worker").chmod(0o755)
    proc = job(env={"XDG_RUNTIME_DIR": str(xdg)})
    rc, _, err = finish(proc)
    assert rc == 0
    assert "warm worker unavailable" in err and "not a private directory" in err
    assert json.loads(job.out.read_text())["pid"] == proc.pid
    assert stat.S_IMODE((xdg / "expanse-worker").stat().st_mode) == 0o755 and not list(
        (xdg / "expanse-worker").iterdir()
    )


def test_the_command_line_reports_a_bad_idle_time_or_runtime_dir_in_one_line(tmp_path, monkeypatch, capsys):
    for argv, env, message in [
        (["--idle", "nan"], {}, "--idle: nan is not a number of seconds >= 0"),
        (["--idle", "-1"], {}, "--idle: -1.0 is not a number of seconds >= 0"),
        ([], {"EXPANSE_WARM_IDLE": "ten"}, "EXPANSE_WARM_IDLE: 'ten' is not a number of seconds >= 0"),
    ]:
        run = subprocess.run(
            [sys.executable, "-m", "expanse.worker", "serve", "--socket", str(tmp_path / "w.sock"), *argv],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (run.returncode, run.stdout, run.stderr) == (1, "", f"error: {message}\n")
    assert (
        worker.idle_seconds(None, {}) == worker.DEFAULT_IDLE_S
        and worker.idle_seconds(None, {"EXPANSE_WARM_IDLE": "5"}) == 5
    )
    # a socket directory another user could open: refused, in one line
    xdg = tmp_path / "xdg"
    (xdg / "expanse-worker").mkdir(parents=True)
    (xdg / "expanse-worker").chmod(0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    assert worker.main(["serve"]) == 1
    assert capsys.readouterr().err == f"error: {xdg / 'expanse-worker'}: not a private directory of this user\n"


def test_the_server_identity_follows_the_import_time_environment():
    base = {"PATH": "/usr/bin", "HOME": "/root"}
    assert worker.server_key(base) == worker.server_key({**base, "JOB_VAR": "x", "EXPANSE_WARM": "1"})
    for name in ("HF_HOME", "TRANSFORMERS_OFFLINE", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "PYTHONHASHSEED"):
        assert worker.server_key(base) != worker.server_key({**base, name: "1"}), name


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_pythonpath_that_shadows_a_preloaded_library_gets_its_own_server(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "shadow" / "trl").mkdir(parents=True)
    (tmp_path / "shadow" / "trl" / "__init__.py").write_text("")

    def key(pythonpath):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if pythonpath:
            env["PYTHONPATH"] = str(pythonpath)
        return subprocess.run(
            [sys.executable, "-c", "from expanse import worker; print(worker.server_key())"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert key(None) == key(tmp_path / "empty")  # a repository copy on PYTHONPATH shares the server
    assert key(None) != key(tmp_path / "shadow")


def test_a_warm_child_reuses_freed_memory_instead_of_faulting_it_in_again(job):
    """The server's malloc settings keep large freed buffers for reuse (training steps allocate
    and free hundreds of MB each); a cold process under glibc's defaults gets fresh pages again."""
    pages = (256 << 20) // os.sysconf("SC_PAGE_SIZE")
    job(env={"JOB_DO": "realloc", worker.ENV_SWITCH: "0"}).wait()
    cold = json.loads(job.out.read_text())
    assert cold["warm_env"] == "0" and cold["faults"][1] > pages // 2  # glibc's default: mmap, fresh pages
    proc = job(env={"JOB_DO": "realloc"})
    assert proc.wait() == 0, proc.stderr.read()
    warm = json.loads(job.out.read_text())
    assert warm["faults"][0] > pages // 2  # the first buffer is new memory either way
    assert warm["faults"][1] < pages // 20, warm


# ---- `python -m expanse.worker snakemake ARGS`: Snakemake itself in a child of the server
SNAKEFILE = r"""
import json, os, sys

onstart:  # run by the Snakemake process itself (a `run:` job may run in a process of its own)
    with open("snakemake.json", "w") as f:
        json.dump({"pid": os.getpid(), "ppid": os.getppid(), "warm_env": os.environ.get("EXPANSE_WARM"),
                   "torch_preloaded": "torch" in sys.modules, "cwd": os.getcwd()}, f)

rule all:
    input: "out.txt"

rule write:
    output: "out.txt"
    shell: "echo hello > {output}"

rule fail:
    output: "fail.txt"
    shell: "echo 'rule fail: prompts/fr.jsonl is broken' >&2; exit 3"

rule slow:
    output: "slow.txt"
    shell: "echo $$ > slow.pid; exec sleep 60"
"""


@pytest.fixture
def smk(tmp_path, rundir):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)

    def run(*targets, env=None, **kw):
        full = {k: v for k, v in os.environ.items() if k not in ("SLURM_JOB_ID", worker.ENV_SWITCH)}
        full.update({"XDG_RUNTIME_DIR": str(rundir), **(env or {})})
        return subprocess.Popen(
            [sys.executable, "-m", "expanse.worker", "snakemake", "-c1", "-s", "Snakefile"]
            + ["--directory", str(tmp_path), "--", *targets],
            env=full,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kw,
        )

    run.seen = lambda: json.loads((tmp_path / "snakemake.json").read_text())
    return run


def test_snakemake_runs_in_a_child_of_the_server_with_the_callers_environment(smk, tmp_path, rundir):
    proc = smk("all", env={worker.ENV_SWITCH: "1"})
    rc, _, err = finish(proc)
    assert rc == 0, err
    assert (tmp_path / "out.txt").read_text() == "hello\n"
    seen = smk.seen()
    assert seen["pid"] != proc.pid and seen["ppid"] == server_pid(rundir)
    assert seen["torch_preloaded"] is True and seen["cwd"] == str(tmp_path)
    assert seen["warm_env"] == "1"  # unchanged: the script jobs it starts forward to the server themselves


@pytest.mark.parametrize("warm", ["1", "0"])
def test_a_failing_rule_fails_the_command_with_snakemakes_error(smk, warm):
    rc, _, err = finish(smk("fail.txt", env={worker.ENV_SWITCH: warm}))
    assert rc == 1
    assert "Error in rule fail" in err and "rule fail: prompts/fr.jsonl is broken" in err
    assert (smk.seen()["warm_env"], "warm worker" in err) == (warm, False)


@pytest.mark.parametrize("env", [{"EXPANSE_WARM": "0"}, {"SLURM_JOB_ID": "42"}, {"XDG_RUNTIME_DIR": "refused"}])
def test_snakemake_runs_in_the_callers_own_process_when_it_must_not_be_forwarded(smk, tmp_path, env):
    if env.get("XDG_RUNTIME_DIR"):  # a socket directory others can open: refused, Snakemake runs here
        (tmp_path / "xdg" / "expanse-worker").mkdir(parents=True)
        (tmp_path / "xdg" / "expanse-worker").chmod(0o755)
        env = {"XDG_RUNTIME_DIR": str(tmp_path / "xdg")}
    proc = smk("all", env=env)
    rc, _, err = finish(proc)
    assert rc == 0, err
    assert (tmp_path / "out.txt").read_text() == "hello\n"
    seen = smk.seen()
    assert seen["pid"] == proc.pid and seen["torch_preloaded"] is False
    assert ("warm worker unavailable" in err) == ("XDG_RUNTIME_DIR" in env)


def test_an_interrupted_snakemake_cleans_up_and_leaves_no_process(smk, tmp_path):
    """Ctrl-C (SIGINT) to the command reaches Snakemake and its jobs, which stop as in a terminal:
    the lock is released, and the command exits with Snakemake's status."""
    proc = smk("slow.txt", start_new_session=True)
    pidfile = tmp_path / "slow.pid"
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    snakemake, shell = smk.seen()["pid"], int(pidfile.read_text())
    assert snakemake != proc.pid and list((tmp_path / ".snakemake" / "locks").iterdir())
    os.kill(proc.pid, signal.SIGINT)
    rc, _, err = finish(proc, timeout=30)
    assert rc != 0, err
    deadline = time.monotonic() + 10
    while (_alive(snakemake) or _alive(shell) or _group(snakemake)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(snakemake) and not _alive(shell) and not _group(snakemake)
    locks = tmp_path / ".snakemake" / "locks"
    assert not locks.exists() or not list(locks.iterdir())
    assert not (tmp_path / "slow.txt").exists()


def test_the_server_refuses_a_snakemake_request_that_is_not_a_list_of_strings(rundir, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(rundir))
    for args in (["-c1", 2], "-c1 all", None):
        sock = next(worker._connect(path) for path, pid in worker.servers() if pid)
        worker._send(sock, {"snakemake": args, "cwd": "/", "env": {}, "path": [], "umask": 0o22}, fds=[0, 1, 2])
        with pytest.raises(ConnectionError):
            worker._recv(sock)
        sock.close()


def _group(pgid: int) -> list[int]:
    """The live processes of process group pgid."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(") ", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(entry))
    return out
