"""Warm execution of rule scripts and of Snakemake: a fork server that holds the heavy imports.

A job that loads a model pays several CPU-seconds before any work: `import torch`, the modules the
first `from_pretrained` pulls in, trl's trainers, lm-eval. At tiny scale that fixed cost is most of
a generation or scoring job. Here one long-lived server process imports those libraries once;
every job still is its own Snakemake job (own process started by Snakemake, own outputs, own log,
own exit status), but its script is run in a child forked from the server, which starts with the
imports already done.

    job process (Snakemake's `python <script>`)      server (python -m expanse.worker serve)
      run_script(main, snakemake)                      preloaded: torch, transformers, trl, ...
        forward(): connect to the socket,  ------->    fork(): the child takes the job's
        pass stdin/stdout/stderr (SCM_RIGHTS),           stdin/stdout/stderr, cwd, umask,
        cwd, environment, argv, sys.path                 environment, argv and sys.path, drops
        wait for the exit status           <-------      every `expanse` module (re-imported from
        exit with it                                     disk: a code edit is always seen), and
                                                         runs the same script file as `__main__`

What keeps a job what it was:
- The child takes the job process's CPU affinity too, so a job started on its own cores (a stage
  of `python -m expanse.dvc_pipeline repro`, a cpuset) stays on them whichever job started the server.
- The child re-executes the very script file Snakemake wrote for the job (its preamble holds the
  job's inputs, outputs, params), so the job's code path is the cold one; `run_script` in the child
  runs `main` directly (the child's environment has EXPANSE_WARM=0, so nothing is forwarded twice).
- The server never runs a model, so no thread pool, CUDA context or RNG state is created before a
  fork; torch's thread count and every seed are set by the job as in a fresh process.
- If the job process dies (Snakemake killed it, or a kill of its process group), the server sees
  the socket close and SIGKILLs the child's process group at once. If the server dies, its children
  die with it (PR_SET_PDEATHSIG) and their jobs fail, so Snakemake reruns them.
- One server per user, interpreter, installed-package set (site-packages' mtime), place the
  preloaded libraries import from, environment that libraries read at import (HF_*,
  TRANSFORMERS_*, CUDA*, OMP_*, PYTHONHASHSEED, ...) and version of this file; anything else starts
  a new one. The socket lives in a directory only the user can open
  ($XDG_RUNTIME_DIR, else /tmp/expanse-worker-UID, mode 0700, refused if another user owns it),
  and the server serves only connections from its own user (SO_PEERCRED).
- The server exits after EXPANSE_WARM_IDLE seconds (default 600) without a job.

Snakemake itself, warm: `python -m expanse.worker snakemake ARGS...` is `snakemake ARGS...` (every
argument after `snakemake` is Snakemake's, options included), for commands that start Snakemake
many times, such as the DVC stages (`snakemake --cores all --force --allowed-rules R --quiet all --
OUTS`). A `snakemake` start spends ~1.5 CPU-s importing its CLI, scheduler and persistence
modules and collecting every installed plugin (the SLURM executor imports pandas) before it reads
the Snakefile; the server has done that once (SNAKEMAKE_PRELOAD, its plugin registries filled), so
Snakemake runs in a child forked from it:
- What a user sees is Snakemake's own output on the command's stdout/stderr and its exit status
  (128 + signal if it was killed). The child takes the command's streams, directory, umask, cores,
  sys.path and environment, that last one unchanged: the script jobs it starts forward to the
  server themselves. A Snakefile that asks for os.getpid() sees the child, not the command.
  Measured on a stage of the tiny graph (merge_families, one job): 3.3-3.6 s wall and ~2.1 CPU-s
  for Snakemake cold, 1.5-1.6 s and ~0.55 CPU-s warm (the rest is parsing the Snakefile and the
  `expanse` modules it imports, which are re-imported from disk in every child).
- Ctrl-C works as in a terminal: SIGINT, SIGTERM and SIGHUP sent to the command go to the child's
  process group (Snakemake and the job processes it started) while the command waits for its exit,
  so Snakemake cancels its jobs, releases .snakemake/locks and marks incomplete outputs (on
  SIGTERM Snakemake waits for its running jobs, as always). Only a SIGKILL of the command makes
  the server SIGKILL that group, leaving the lock as a killed Snakemake does. A server that is
  stopped interrupts a Snakemake run with SIGINT and gives it STOP_GRACE_S before it kills it.
- Same rules as for jobs: EXPANSE_WARM=0 or SLURM_JOB_ID runs Snakemake in the command's own
  process, as does a server that cannot be reached (the command then says why on stderr).

Scope: local runs only. A job inside a SLURM allocation (SLURM_JOB_ID set) or one that asks for a
GPU starts its own process as before (forking after CUDA use is unsafe, and at GPU scale the
weights, not the imports, dominate). EXPANSE_WARM=0 turns the mode off. Snakemake's `benchmark:`
files of a warm job record the job process: wall time is right, CPU and memory are the child's and
are written to the job's log instead.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import socket
import struct
import sys
import time
from pathlib import Path

from expanse.errors import ConfigError, ExpanseError, StateError

ENV_SWITCH = "EXPANSE_WARM"
ENV_IDLE = "EXPANSE_WARM_IDLE"
DEFAULT_IDLE_S = 600.0
START_TIMEOUT_S = 180.0
STOP_GRACE_S = 10.0  # how long a stopping server lets a Snakemake run clean up after its SIGINT
# Environment variables that libraries read when they are imported: a server started with other
# values would hand its children stale settings, so they are part of the server's identity.
IMPORT_TIME_ENV = (
    "HF_",
    "HUGGINGFACE",
    "TRANSFORMERS",
    "TOKENIZERS",
    "TORCH",
    "PYTORCH",
    "CUDA",
    "NVIDIA",
    "OMP_",
    "MKL_",
    "OPENBLAS",
    "KMP_",
    "PYTHON",
    "LD_",
    "TRL_",
    "ACCELERATE",
    "WANDB",
    "VLLM",
    "XDG_",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_",
    "TZ",
    "POLARS",
    "ARROW",
    "NUMEXPR",
    "MALLOC_",
    "GLIBC_",
)
# What the server imports before its first fork: the libraries and the lazily imported submodules
# (model classes, generation, trainers, lm-eval's HF model) that a tiny job otherwise imports itself.
PRELOAD = (
    "numpy",
    "pyarrow",
    "pyarrow.parquet",
    "yaml",
    "pydantic",
    "torch",
    "torch.nn.functional",
    "safetensors",
    "safetensors.torch",
    "tokenizers",
    "transformers",
    "transformers.modeling_utils",
    "transformers.generation",
    "transformers.generation.utils",
    "transformers.models.cohere.modeling_cohere",
    "transformers.models.cohere.configuration_cohere",
    "transformers.models.auto.modeling_auto",
    "transformers.models.auto.tokenization_auto",
    "transformers.tokenization_utils_fast",
    "transformers.trainer",
    "transformers.modeling_outputs",
    "transformers.data.data_collator",
    "datasets",
    "accelerate",
    "peft",
    "trl",
    "trl.trainer.sft_trainer",
    "trl.trainer.dpo_trainer",
    "trl.trainer.reward_trainer",
    "lm_eval",
    "lm_eval.evaluator",
    "lm_eval.tasks",
    "lm_eval.models.huggingface",
    "lingua",
)
# What a `snakemake` start imports before it reads the Snakefile (measured with -X importtime and
# cProfile on a stage of this project: ~1.5 CPU-s): its CLI, API, workflow, DAG and scheduler
# modules, the persistence layer (sqlmodel, sqlalchemy), the executor plugins (the SLURM one
# imports pandas), and what it imports lazily on the way (profiles with yte, storage, the report
# plugin with jinja2 and docutils, the source cache's smart_open with boto3, nbformat). The
# plugin registries are filled by _warm_snakemake. Not polars (a Snakefile may import it): it
# starts its thread pool when imported, and a forked child of a process with that pool can hang.
SNAKEMAKE_PRELOAD = (
    "snakemake",
    "snakemake.cli",
    "snakemake.api",
    "snakemake.workflow",
    "snakemake.dag",
    "snakemake.parser",
    "snakemake.persistence",
    "snakemake.scheduling.job_scheduler",
    "snakemake.executors.local",
    "snakemake.profiles",
    "snakemake.benchmark",
    "snakemake.storage",
    "snakemake.assets",
    "snakemake.sourcecache",
    "snakemake.report",
    "snakemake.report.html_reporter",
    "snakemake.script",
    "nbformat",  # imported by snakemake.script for every `script:` job, to tell notebooks apart
    "jsonschema",
    "smart_open",
    "smart_open.s3",
)
SERVING: int | None = None  # the server's PID, in the server (a job's fresh import of this module has None)
_HEADER = struct.Struct("!I")
MAX_REQUEST = 16 << 20


# ---------------------------------------------------------------------------------------------
# identity and place of the server
def runtime_dir() -> Path:
    """The user's private directory for the socket; created 0700, a StateError if it is not ours."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    d = Path(base) / "expanse-worker" if base and os.path.isdir(base) else Path(f"/tmp/expanse-worker-{os.getuid()}")
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = d.lstat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077 or not os.path.isdir(d) or os.path.islink(d):
        raise StateError(f"{d}: not a private directory of this user")
    return d


def server_key(env=None) -> str:
    """Which server may run this process's jobs: same interpreter, installed packages, import-time
    environment and worker code."""
    import importlib.util
    import sysconfig

    env = os.environ if env is None else env
    h = hashlib.sha256()
    h.update(os.path.realpath(sys.executable).encode())
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths()[key]
        h.update(f"{path}:{os.stat(path).st_mtime_ns if os.path.isdir(path) else 0}".encode())
    h.update(Path(__file__).read_bytes())
    for name in sorted(env):
        if name.startswith(IMPORT_TIME_ENV) and name not in (ENV_SWITCH, ENV_IDLE, "PYTHONPATH"):
            h.update(f"\0{name}={env[name]}".encode())
    # where this process would import the preloaded libraries from (PYTHONPATH may shadow one); the
    # project's own modules are always imported afresh by the job, so its place does not matter
    for top in sorted({name.split(".")[0] for name in PRELOAD + SNAKEMAKE_PRELOAD}):
        spec = importlib.util.find_spec(top) if top not in sys.modules else sys.modules[top].__spec__
        h.update(f"\0{top}:{spec.origin if spec else None}".encode())
    return h.hexdigest()[:20]


def socket_path(key: str | None = None) -> Path:
    """The socket of the server for `key` (default: this process's server_key)."""
    return runtime_dir() / f"{key or server_key()}.sock"


# ---------------------------------------------------------------------------------------------
# client: the job process
def job_script() -> str | None:
    """The file Snakemake's `script:` directive runs, when this process is one: its preamble sets
    `__real_file__` in `__main__` to the file's own path, and the file holds the job's `snakemake`
    object. A script run any other way (runpy, `python -c`, an import) is not re-runnable."""
    main = sys.modules.get("__main__")
    real = getattr(main, "__real_file__", None)
    if not isinstance(real, str) or not sys.argv or os.path.abspath(real) != os.path.abspath(sys.argv[0]):
        return None
    return os.path.abspath(real) if os.path.isfile(real) else None


def allowed() -> bool:
    """Whether this process may use a warm server at all: not switched off (EXPANSE_WARM=0) and
    not inside a SLURM allocation."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "off", "false", "no"):
        return False
    return not os.environ.get("SLURM_JOB_ID")


def wanted(smk) -> bool:
    """Whether this job should run in the warm server."""
    if not allowed() or job_script() is None:
        return False
    try:
        gpus = int(getattr(smk, "resources", {}).get("gpu", 0) or 0)
    except (TypeError, ValueError, AttributeError):
        gpus = 0
    return gpus == 0


def _send(sock: socket.socket, obj: dict, fds=()) -> None:
    data = json.dumps(obj).encode()
    payload = _HEADER.pack(len(data)) + data
    if fds:
        sent = socket.send_fds(sock, [payload], list(fds))
        payload = payload[sent:]
    if payload:
        sock.sendall(payload)


def _recv_exact(sock: socket.socket, n: int, first: bytes = b"") -> bytes:
    buf = bytearray(first)
    while len(buf) < n:
        chunk = sock.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return bytes(buf)


def _recv(sock: socket.socket, with_fds: int = 0) -> tuple[dict, list[int]]:
    fds: list[int] = []
    if with_fds:
        data, fds, _, _ = socket.recv_fds(sock, 1 << 16, with_fds)
        if not data:
            raise ConnectionError("connection closed")
    else:
        data = b""
    head = _recv_exact(sock, _HEADER.size, data[: _HEADER.size])
    (n,) = _HEADER.unpack(head)
    if n > MAX_REQUEST:
        raise ValueError(f"message of {n} bytes")
    body = _recv_exact(sock, n, data[_HEADER.size :])
    return json.loads(body), fds


def _connect(path: Path) -> socket.socket | None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return s
    except OSError:
        s.close()
        return None


def connect() -> socket.socket:
    """A connection to this process's server, starting the server when none answers."""
    import fcntl

    path = socket_path()
    sock = _connect(path)
    if sock is not None:
        return sock
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter; the others wait and then connect
        sock = _connect(path)
        if sock is None:
            _start_server(path)
            deadline = time.monotonic() + START_TIMEOUT_S
            while sock is None and time.monotonic() < deadline:
                time.sleep(0.05)
                sock = _connect(path)
            if sock is None:
                raise ConnectionError(f"the warm worker did not start; see {path.with_suffix('.log')}")
    return sock


# glibc malloc settings the server starts with, inherited by every child it forks (a user's own
# MALLOC_* values win). By default an allocation above glibc's mmap threshold (at most 32 MB) gets
# fresh pages from the kernel and returns them on free, so every training step zero-fills its
# large buffers again: trl's fused LM head alone allocates a [tokens, 32768] scratch buffer per
# forward and backward. Measured on a tiny online DPO job: 7.1 M page faults and 12 s of system
# time, against 0.45 M and 1.8-3 s with these, for ~0.5 GB more peak memory. Children are local
# CPU jobs only (see Scope), so GPU jobs keep glibc's defaults.
MALLOC_TUNABLES = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(4 << 30)}


def _start_server(path: Path) -> None:
    import subprocess

    if path.exists():
        path.unlink()  # a socket left by a killed server: nobody answers on it
    log = open(path.with_suffix(".log"), "ab")
    subprocess.Popen(
        [sys.executable, "-m", "expanse.worker", "serve", "--socket", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        close_fds=True,
        cwd="/",
        env={**MALLOC_TUNABLES, **os.environ, ENV_SWITCH: "0"},
    )
    log.close()


FORWARDED: dict = {}  # the last forwarded job's exit message: status, the child's CPU time and peak memory
_USAGE = re.compile(
    r"^warm worker: child (\d+): wall ([\d.]+) s, user ([\d.]+) s, sys ([\d.]+) s, max RSS ([\d.]+) MB$"
)


def usage_line(usage: dict) -> str:
    """The line a warm job's log ends with: what its child used (Snakemake's benchmark file
    measures the job's own process, which only waited)."""
    return (
        f"warm worker: child {usage['pid']}: wall {usage['wall_s']} s, user {usage['user_s']} s, "
        f"sys {usage['sys_s']} s, max RSS {usage['max_rss_mb']} MB"
    )


def read_usage(log_text: str) -> dict | None:
    """The child's usage from a job log's last line, None when the job did not run warm."""
    lines = log_text.rstrip("\n").rsplit("\n", 1)
    m = _USAGE.match(lines[-1]) if lines else None
    if m is None:
        return None
    return {
        "pid": int(m[1]),
        "wall_s": float(m[2]),
        "user_s": float(m[3]),
        "sys_s": float(m[4]),
        "max_rss_mb": float(m[5]),
    }


def _context() -> dict:
    """What a child takes on from this process: directory, environment, sys.path, umask, cores."""
    umask = os.umask(0)
    os.umask(umask)
    return {
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "path": sys.path,
        "umask": umask,
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def _submit(sock: socket.socket, request: dict) -> None:
    """Send the request with this process's stdin/stdout/stderr (a closed one is /dev/null there)."""
    fds, opened = [], []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            opened.append(os.open(os.devnull, os.O_RDWR))
            fds.append(opened[-1])
    try:
        _send(sock, request, fds=fds)
    finally:
        for fd in opened:
            os.close(fd)


def _outcome(sock: socket.socket, what: str, on_pid=None) -> int:
    """Wait for the child's exit message (on_pid gets the child's PID first); the exit status to
    exit with: the child's, 128 + signal if it was killed, 1 if the server went away."""
    result: dict = {}
    try:
        while True:
            msg, _ = _recv(sock)
            if "exit" in msg:
                result = msg
                break
            if on_pid is not None and "pid" in msg:
                on_pid(int(msg["pid"]))
    except (ConnectionError, ValueError):
        print(
            f"error: the warm worker went away while running {what} (EXPANSE_WARM=0 runs it in this process)",
            file=sys.stderr,
            flush=True,
        )
        return 1
    finally:
        sock.close()
    FORWARDED.update(result)
    if result.get("signal"):
        return 128 + int(result["signal"])
    return int(result["exit"])


def forward() -> int:
    """Run this job's script in the warm server; returns the exit status to exit with."""
    script = job_script()
    if script is None:
        raise ConnectionError("not a Snakemake script job")
    sock = connect()
    request = {**_context(), "script": script, "argv": sys.argv}
    request["env"][ENV_SWITCH] = "0"  # the child runs main itself, and so do its subprocesses
    _submit(sock, request)
    return _outcome(sock, "this job")


# What a terminal or a supervisor sends to stop a command: forwarded to the warm Snakemake's
# process group (Snakemake and the jobs it started), which cleans up as after Ctrl-C.
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def forward_snakemake(args: list[str]) -> int:
    """Run `snakemake ARGS` in a child of the warm server, with this process's standard streams,
    directory, environment (unchanged: its script jobs forward to the server themselves), sys.path,
    umask and cores; returns its exit status. While it runs, SIGINT, SIGTERM and SIGHUP sent to
    this process go to the child's process group and this process keeps waiting for the exit.
    An OSError or StateError means nothing was started (the server could not be reached)."""
    sock = connect()
    child: int | None = None
    pending: list[int] = []

    def on_signal(signum, frame):
        if child is None:
            pending.append(signum)
        else:
            _signal_group(child, signum)

    def on_pid(pid: int) -> None:
        nonlocal child
        child = pid
        while pending:  # signals that came before the child's PID did
            _signal_group(pid, pending.pop(0))

    previous = {sig: signal.signal(sig, on_signal) for sig in FORWARDED_SIGNALS}
    try:
        try:
            _submit(sock, {**_context(), "snakemake": list(args)})
        except OSError:
            sock.close()
            raise
        return _outcome(sock, "Snakemake", on_pid)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child is None and pending:  # nobody to hand them to: they stop this process
            signal.signal(pending[0], signal.SIG_DFL)
            os.kill(os.getpid(), pending[0])


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)
    return 1


def _snakemake_here(args: list[str]) -> int:
    """Run Snakemake's command line in this process, as the `snakemake` executable does."""
    try:
        from snakemake.cli import main as snakemake_main
    except ImportError as e:
        print(f"error: Snakemake is not installed ({e})", file=sys.stderr, flush=True)
        return 1
    sys.argv = ["snakemake", *args]
    try:
        snakemake_main(list(args))
    except SystemExit as e:
        return _exit_code(e)
    return 0


def run_snakemake(args: list[str]) -> int:
    """`python -m expanse.worker snakemake ARGS`: `snakemake ARGS` in a child of the warm server when
    warm mode is allowed, else (or when no server can be reached) in this process."""
    if allowed():
        try:
            return forward_snakemake(args)
        except (OSError, StateError) as e:  # ConnectionError is an OSError
            note = f"note: warm worker unavailable ({e}); running Snakemake in this process"
            print(note, file=sys.stderr, flush=True)
    return _snakemake_here(args)


# ---------------------------------------------------------------------------------------------
# server
class _Job:
    __slots__ = ("conn", "pid", "pidfd", "started", "snakemake")

    def __init__(self, conn, pid, pidfd, snakemake=False):
        self.conn, self.pid, self.pidfd, self.started = conn, pid, pidfd, time.monotonic()
        self.snakemake = snakemake  # a Snakemake run, not a script job


def preload(names=PRELOAD + SNAKEMAKE_PRELOAD) -> list[str]:
    """Import the heavy libraries; returns the ones that are not installed."""
    import importlib
    import warnings

    missing = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            try:
                importlib.import_module(name)
            except ImportError:
                missing.append(name)
    if "snakemake.cli" not in missing:
        _warm_snakemake()
    return missing


def _warm_snakemake() -> None:
    """Fill Snakemake's plugin registries (singletons: a `snakemake` start otherwise finds and
    imports every installed plugin again) and build its argument parser once (it imports the
    profile parser and asks each plugin for its options). Neither starts a thread or keeps a file
    open; a failure here only leaves the work to each run."""
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module, registry in (
            ("snakemake_interface_executor_plugins.registry", "ExecutorPluginRegistry"),
            ("snakemake_interface_storage_plugins.registry", "StoragePluginRegistry"),
            ("snakemake_interface_report_plugins.registry", "ReportPluginRegistry"),
            ("snakemake_interface_logger_plugins.registry", "LoggerPluginRegistry"),
            ("snakemake_interface_scheduler_plugins.registry", "SchedulerPluginRegistry"),
        ):
            try:
                getattr(importlib.import_module(module), registry)()
            except Exception:
                pass
        try:
            importlib.import_module("snakemake.cli").get_argument_parser()
        except Exception:
            pass


def _pdeathsig() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run_child(req: dict, fds: list[int], keep_closed: list, mask=()) -> None:
    """In the forked child: become the job's process and run its script, or Snakemake's command
    line; never returns. `mask`: the signal mask to restore once the child is ready (the server
    forks with the forwarded signals blocked, so one sent meanwhile waits instead of being lost)."""
    import atexit
    import runpy
    import traceback

    code = 1
    try:
        os.setpgid(0, 0)
        _pdeathsig()
        for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(-1)
        for obj in keep_closed:
            try:
                obj.close()
            except OSError:
                pass
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(req["cwd"])
        os.umask(int(req["umask"]))
        if req.get("cpus") and hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(0, [int(c) for c in req["cpus"]])
            except OSError:  # none of the job's cores is the server's: keep the server's
                pass
        os.environ.clear()
        os.environ.update(req["env"])
        snakemake_args = req.get("snakemake")
        sys.argv = ["snakemake", *snakemake_args] if snakemake_args is not None else list(req["argv"])
        sys.path[:] = list(req["path"])
        for name in [m for m in sys.modules if m == "expanse" or m.startswith("expanse.")]:
            del sys.modules[name]  # the job imports the project's code from disk, as it is now
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        code = 0
        if snakemake_args is not None:
            from snakemake.cli import main as snakemake_main
            from snakemake.workflow import Workflow

            if hasattr(Workflow, "_rundir"):  # taken when the server imported it (directory /)
                Workflow._rundir = os.getcwd()
            snakemake_main(list(snakemake_args))
        else:
            runpy.run_path(req["script"], run_name="__main__")
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()
            import threading

            threading._shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code & 0xFF if isinstance(code, int) else 1)


def serve(path: Path, idle_s: float) -> None:
    """Listen on `path`, preload, and run each job that connects in a forked child, until idle_s
    seconds pass without a job or SIGTERM."""
    import selectors

    global SERVING
    SERVING = os.getpid()

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    listener.bind(str(tmp))
    os.chmod(tmp, 0o600)
    listener.listen(64)
    os.replace(tmp, path)  # clients connect from now on; they wait until the imports are done
    inode = os.stat(path).st_ino
    started = time.monotonic()
    missing = preload()
    print(
        f"expanse worker {os.getpid()}: {path.name}, preloaded in {time.monotonic() - started:.1f} s"
        + (f" (not installed: {', '.join(missing)})" if missing else ""),
        flush=True,
    )
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    jobs: dict[int, _Job] = {}
    last = time.monotonic()
    stop = False

    def on_term(signum, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        while not stop:
            events = sel.select(timeout=1.0)
            for key, _ in events:
                if key.data == "accept":
                    try:
                        conn, _ = listener.accept()
                    except OSError:
                        continue
                    job = _start_job(conn, listener, sel, jobs)
                    if job is not None:
                        jobs[job.pid] = job
                        sel.register(job.pidfd, selectors.EVENT_READ, ("exit", job.pid))
                        sel.register(job.conn, selectors.EVENT_READ, ("client", job.pid))
                elif key.data[0] == "client":
                    job = jobs.get(key.data[1])
                    if job is not None:  # the job process went away (killed): so does its child
                        _kill(job.pid)
                        sel.unregister(job.conn)
                        job.conn.close()
                        job.conn = None
                elif key.data[0] == "exit":
                    job = jobs.pop(key.data[1])
                    _finish(job, sel)
                last = time.monotonic()
            if not jobs and time.monotonic() - last > idle_s:
                break
    finally:
        try:
            if os.stat(path).st_ino == inode:  # not a newer server's socket
                os.unlink(path)
        except OSError:
            pass
        listener.close()
        _wind_down(jobs, sel)


def _wind_down(jobs: dict[int, _Job], sel) -> None:
    """The server stops with jobs running: a script job's child is killed at once (the job fails
    and Snakemake reruns it); a Snakemake run is interrupted as by Ctrl-C and given STOP_GRACE_S
    to cancel its jobs, release its lock and mark its incomplete outputs before it is killed."""
    import select

    for job in jobs.values():
        if job.snakemake:
            _signal_group(job.pid, signal.SIGINT)
        else:
            _kill(job.pid)
    waiting = {job.pidfd: job for job in jobs.values() if job.snakemake}
    deadline = time.monotonic() + STOP_GRACE_S
    while waiting and deadline > time.monotonic():
        try:
            ready, _, _ = select.select(list(waiting), [], [], deadline - time.monotonic())
        except InterruptedError:
            continue
        for fd in ready:
            job = waiting.pop(fd)
            jobs.pop(job.pid, None)
            _finish(job, sel)  # its client gets Snakemake's exit status
    for job in jobs.values():
        _kill(job.pid)


def _kill(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
            return
        except (ProcessLookupError, PermissionError):
            continue


def _start_job(conn: socket.socket, listener, sel, jobs) -> _Job | None:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
        if uid != os.getuid():
            conn.close()
            return None
        conn.settimeout(10.0)
        req, fds = _recv(conn, with_fds=3)
        conn.settimeout(None)
        if len(fds) != 3 or not _valid(req):
            raise ValueError("bad request")
    except (OSError, ValueError, KeyError):
        conn.close()
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    others = [listener, sel, conn] + [j.conn for j in jobs.values() if j.conn] + [j.pidfd for j in jobs.values()]
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
    pid = os.fork()
    if pid == 0:
        closers = [o for o in others if not isinstance(o, int)]
        for fd in (o for o in others if isinstance(o, int)):
            try:
                os.close(fd)
            except OSError:
                pass
        _run_child(req, fds, closers, mask)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    try:
        os.setpgid(pid, pid)  # the group exists before its client is told the PID (the child does it too)
    except OSError:
        pass
    for fd in fds:
        os.close(fd)
    try:
        _send(conn, {"pid": pid})
    except OSError:
        pass
    return _Job(conn, pid, os.pidfd_open(pid), snakemake="snakemake" in req)


def _valid(req) -> bool:
    """A request names a script file to run, or Snakemake's arguments (a list of strings)."""
    if not isinstance(req, dict):
        return False
    if "snakemake" in req:
        args = req["snakemake"]
        return isinstance(args, list) and all(isinstance(a, str) for a in args)
    return isinstance(req.get("script"), str) and os.path.isfile(req["script"])


def _finish(job: _Job, sel) -> None:
    sel.unregister(job.pidfd)
    _, status, usage = os.wait4(job.pid, 0)
    os.close(job.pidfd)
    if job.conn is None:
        return
    sel.unregister(job.conn)
    msg = {
        "pid": job.pid,
        "exit": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0,
        "user_s": round(usage.ru_utime, 3),
        "sys_s": round(usage.ru_stime, 3),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "wall_s": round(time.monotonic() - job.started, 3),
    }
    try:
        _send(job.conn, msg)
    except OSError:
        pass
    job.conn.close()


# ---------------------------------------------------------------------------------------------
def servers() -> list[tuple[Path, int | None]]:
    """The sockets of this user's servers and the PIDs listening on them (None: nobody)."""
    out = []
    try:
        d = runtime_dir()
    except StateError:
        return out
    for sock in sorted(d.glob("*.sock")):
        pid = None
        s = _connect(sock)
        if s is not None:
            creds = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            pid = struct.unpack("3i", creds)[0]
            s.close()
        out.append((sock, pid))
    return out


def idle_seconds(arg: float | None, env=None) -> float:
    """How long a server waits for a job before it exits: --idle, else $EXPANSE_WARM_IDLE, else
    DEFAULT_IDLE_S; a value that is not a finite number >= 0 is a ConfigError naming its source."""
    env = os.environ if env is None else env
    source, raw = ("--idle", arg) if arg is not None else (ENV_IDLE, env.get(ENV_IDLE, DEFAULT_IDLE_S))
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{source}: {raw!r} is not a number of seconds >= 0")
    return value


def main(argv=None) -> int:
    """The command line: serve, status, stop, snakemake. An ExpanseError is printed as one line,
    exit status 1."""
    try:
        return _command(argv)
    except ExpanseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _command(argv) -> int:
    import argparse

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["snakemake"]:  # everything after it is Snakemake's, options included
        return run_snakemake(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m expanse.worker", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run a server (jobs start one themselves when none answers)")
    s.add_argument("--socket", type=Path)
    s.add_argument(
        "--idle",
        type=float,
        default=None,
        help=f"seconds without a job before it exits (default: ${ENV_IDLE} or {DEFAULT_IDLE_S:g})",
    )
    sub.add_parser("status", help="list this user's servers")
    sub.add_parser("stop", help="stop this user's servers (running jobs fail and are rerun by Snakemake)")
    sub.add_parser(
        "snakemake",
        help="run `snakemake ARGS...` in a child of the warm server (ARGS are passed as they are)",
        add_help=False,
    )
    args = ap.parse_args(argv)
    if args.cmd == "serve":
        serve(args.socket or socket_path(), idle_seconds(args.idle))
        return 0
    for sock, pid in servers():
        if args.cmd == "status":
            print(f"{sock}: " + (f"pid {pid}" if pid else "stale socket, nobody listening"))
        elif pid:
            os.kill(pid, signal.SIGTERM)
            print(f"stopped {pid} ({sock.name})")
        else:
            sock.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    # run as the module expanse.worker, not as __main__, so that its state is where a job looks
    from expanse.worker import main as _main

    sys.exit(_main())
