"""`dvc repro` on every core: DVC runs the changed stages, independent ones side by side.

DVC runs one stage at a time, and DVC has no `--jobs`. It does let separate processes run
independent stages at once: `dvc repro --single-item STAGE` releases the repository lock while the
stage's command runs and guards the stage's own deps and outs with read/write locks
(`.dvc/tmp/rwlock`); `dvc --wait-for-lock` waits, instead of failing, for the moments another
process holds the repository lock (collecting stages, hashing outputs, writing dvc.lock). This
module is the scheduler around that, the way `make -j` is around a compiler:

1. `dvc status` names the stages whose deps, params, outs or command changed; those and every
   stage below them (whose deps they write) are to run, in the pipeline's order;
2. a stage is started once every stage it depends on has finished, while a core is free, longest
   chain of stages below it first (then the bigger stage): each runs as
   `dvc --wait-for-lock repro --single-item STAGE`, so DVC itself decides whether it still needs
   to run (a rebuilt upstream output may be byte-identical), runs its command, hashes its outputs
   into the cache and records it in dvc.lock;
3. each stage gets its own cores (the process's CPU affinity): the stage's `snakemake --cores all`
   counts only those, so two stages never run more jobs than there are cores.

Each stage's DVC output goes to `logs/{scale}/dvc_repro/{stage}.log`; on a failure no new stage
starts, the running ones finish, and the exit status is 1 with the failed stage and its log named.
Ctrl-C (or SIGTERM) interrupts the running stages as it would a plain `dvc repro` (exit 130).

    python -m expanse.dvc_pipeline repro                 # the default scale's pipeline, all cores
    python -m expanse.dvc_pipeline repro --cores 1       # one stage at a time, as plain `dvc repro`
    python -m expanse.dvc_pipeline repro sft-romance     # only what sft-romance needs
    python -m expanse.dvc_pipeline repro --dry           # the stages it would start, in order
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath

import yaml

from expanse.errors import ConfigError, StateError

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it


def lock_of(path: str) -> str:
    """The dvc.lock of the pipeline file at `path`."""
    return PurePosixPath(path).with_name("dvc.lock").as_posix()


@dataclass
class Pipeline:
    """A pipeline's stages (of one or several dvc.yaml files) and, for each, the stages it reads
    outputs of."""

    path: str  # its main file
    upstream: dict[str, set[str]]
    sizes: dict[str, int] = field(default_factory=dict)  # outputs per stage: its jobs, roughly
    # stage -> upstream stage -> the outs of it the stage reads (None: all of them, e.g. a folder
    # dep holding several); a pair not listed reads all of them
    reads: dict[str, dict[str, set[str] | None]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # stage -> its file, where not `path`
    downstream: dict[str, set[str]] = field(init=False)  # derived from upstream

    def __post_init__(self):
        self.downstream = {name: set() for name in self.upstream}
        for name, ups in self.upstream.items():
            for up in ups:
                self.downstream[up].add(name)

    def target(self, name: str) -> str:
        """The stage as DVC names it: plainly in the root dvc.yaml, else `path:stage`."""
        file = self.files.get(name, self.path)
        return name if file == "dvc.yaml" else f"{file}:{name}"

    def below(self, roots) -> set[str]:
        """`roots` and every stage that depends on one of them, transitively."""
        return _closure(roots, self.downstream)

    def above(self, roots) -> set[str]:
        """`roots` and every stage one of them depends on, transitively."""
        return _closure(roots, self.upstream)

    def ready(self, waiting: set[str], busy: set[str]) -> list[str]:
        """The stages of `waiting` none of whose upstream stages is waiting or `busy` (running), first
        to start first (`priority`)."""
        return sorted((n for n in waiting if not self.upstream[n] & (waiting | busy)), key=self.priority.get)

    @cached_property
    def priority(self) -> dict[str, tuple]:
        """A sort key per stage, first to start first: the longest chain of stages below it, then
        the most outputs (the bigger stage first, so small ones fill the gaps), then the name."""
        lengths = self.chain_length()
        return {n: (-lengths[n], -self.sizes.get(n, 0), n) for n in self.upstream}

    def chain_length(self) -> dict[str, int]:
        """For each stage, the number of stages on the longest chain from it to a last stage."""
        memo: dict[str, int] = {}
        for start in self.upstream:
            stack = [start]
            while stack:
                name = stack[-1]
                pending = [d for d in self.downstream[name] if d not in memo]
                if pending:
                    stack.extend(pending)
                    continue
                stack.pop()
                memo[name] = 1 + max((memo[d] for d in self.downstream[name]), default=0)
        return memo


def _closure(roots, edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges[name])
    return seen


def links(stages: dict[str, dict]) -> tuple[dict[str, set[str]], dict[str, dict[str, set[str] | None]]]:
    """Which stage reads which: ({stage: the stages it reads outputs of}, {stage: {upstream stage:
    the outs of it the stage reads, None for all of them}}). B reads A when one of B's deps is one
    of A's outs, inside one, or a folder holding one; paths compare as written (every stage runs
    at the root)."""
    writer: dict[str, str] = {}  # an out, or a folder holding outs, -> the stage(s) writing it
    holders: dict[str, set[str]] = {}
    for name, st in stages.items():
        for out in st.get("outs") or []:
            out = str(PurePosixPath(_path_of(out)))
            writer[out] = name
            for parent in PurePosixPath(out).parents:
                holders.setdefault(str(parent), set()).add(name)
    upstream: dict[str, set[str]] = {}
    reads: dict[str, dict[str, set[str] | None]] = {}
    for name, st in stages.items():
        read: dict[str, set[str] | None] = {}
        for dep in st.get("deps") or []:
            p = PurePosixPath(_path_of(dep))
            for candidate in (p, *p.parents):
                up = writer.get(str(candidate))
                if up is not None and read.get(up, set()) is not None:
                    read.setdefault(up, set()).add(str(candidate))
            for up in holders.get(str(p), set()):
                read[up] = None
        read.pop(name, None)
        upstream[name] = set(read)
        reads[name] = read
    return upstream, reads


def load_pipeline(root: Path, paths: str | list[str]) -> Pipeline:
    """The stages of the dvc.yaml file(s) at `paths` (relative to root; the first is the main one)
    and which feeds which (`links`)."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    stages: dict[str, dict] = {}
    files: dict[str, str] = {}
    for path in paths:
        try:
            text = (root / path).read_text(encoding="utf-8")
            found = (yaml.load(text, Loader=LOADER) or {}).get("stages") or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: cannot read the pipeline: {str(e).splitlines()[0]}") from e
        for name, st in found.items():
            if name in files:
                raise ConfigError(f"{path}: stage {name} is in {files[name]} too; stage names must be unique")
            stages[name], files[name] = st, path
    upstream, reads = links(stages)
    sizes = {name: len(st.get("outs") or []) for name, st in stages.items()}
    return Pipeline(paths[0], upstream, sizes, reads, {n: f for n, f in files.items() if f != paths[0]})


def _path_of(item) -> str:
    return next(iter(item)) if isinstance(item, dict) else str(item)


def changed(status_json: str, paths: str | list[str]) -> set[str]:
    """The stage names in `dvc status --json` output for the pipeline of the files `paths` (DVC
    names the root dvc.yaml's stages plainly and any other file's as `path:stage`)."""
    paths = {paths} if isinstance(paths, str) else set(paths)
    try:
        report = json.loads(status_json or "{}")
    except json.JSONDecodeError as e:
        raise StateError(f"dvc status printed no JSON report: {status_json.strip()[:200]!r}") from e
    names = set()
    for key in report:
        file, sep, stage = key.rpartition(":")
        if not sep:
            names.add(key)
        elif file in paths:
            names.add(stage)
    return names


def lock_outs(root: Path, paths: str | list[str]) -> dict[str, tuple]:
    """{stage: its recorded outs as (path, hash) pairs} of the dvc.lock files next to the pipeline
    files `paths` (none where there is no lock): what a stage's run is compared with to tell
    whether it changed anything."""
    outs = {}
    for path in [paths] if isinstance(paths, str) else paths:
        lock = root / lock_of(path)
        try:
            text = lock.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        data = yaml.load(text, Loader=LOADER) or {}
        outs.update(
            (name, tuple((o.get("path"), o.get("md5") or o.get("hash")) for o in entry.get("outs") or []))
            for name, entry in (data.get("stages") or {}).items()
        )
    return outs


def order(pipeline: Pipeline, todo: set[str]) -> list[str]:
    """`todo` in an order that puts each stage after the stages of `todo` it depends on, by
    `Pipeline.priority`: the order stages start in when one core runs them all."""
    waiting, done = set(todo), []
    while waiting:
        name = pipeline.ready(waiting, set())[0]
        done.append(name)
        waiting.discard(name)
    return done


def split_cores(free: list[int], n_ready: int) -> list[list[int]]:
    """The free cores shared among at most `n_ready` stages to start now: one set each while there
    are more stages than cores, else all of them split as evenly as they go, the first the most."""
    n = min(len(free), n_ready)
    if n == 0:
        return []
    size, extra = divmod(len(free), n)
    sets, i = [], 0
    for k in range(n):
        take = size + (1 if k < extra else 0)
        sets.append(free[i : i + take])
        i += take
    return sets


@dataclass
class _Running:
    name: str
    proc: subprocess.Popen
    cores: list[int]
    log: Path
    started: float


def _pinned(cores: list[int]):
    def pin():
        try:
            os.sched_setaffinity(0, cores)
        except (AttributeError, OSError):  # no affinity on this system: the stage uses every core
            pass

    return pin


RUN_CACHE_LINE = "is cached - skipping run"  # DVC's log line for a stage it checks out of its run cache


def restored_from_run_cache(log_dir: Path, started) -> list[str]:
    """The stages among `started` (this run's: their logs are this run's) whose DVC log says DVC
    checked their outputs out of its run cache (deps and params it had built before) instead of
    running the command: those outputs carry the checkout's mtimes, not the order of a build."""
    restored = []
    for name in sorted(started):
        try:
            text = (log_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        if RUN_CACHE_LINE in text:
            restored.append(name)
    return restored


def last_lines(log: Path, n: int = 3) -> str:
    try:
        lines = [x.strip() for x in log.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def run(
    root: Path,
    pipeline: Pipeline,
    todo: set[str],
    dvc_argv: list[str],
    target_of,
    cores: list[int],
    log_dir: Path,
    say=print,
    dirty: set[str] | None = None,
    outs_of=None,
) -> tuple[int, set[str]]:
    """Run `todo`'s stages, each as `dvc_argv + ['--wait-for-lock', 'repro', '--single-item',
    target_of(name)]`, a stage once the stages of `todo` it depends on have succeeded, on its own
    share of `cores`. A stage of `todo` not in `dirty` (the stages DVC reported changed; default:
    all of `todo`) is only below one: it runs when a stage it reads from changed its outputs
    (`outs_of()`: each stage's recorded outs, read before and after), and is skipped when they all
    came out as they were, as DVC itself would skip it: compared out by out, so a stage whose
    upstream changed only outs it does not read (the `code` stage rewriting one script's code
    file) is skipped too. Returns (0, skipped), or 1 after a stage failed (the others running
    then finish). `skipped` is the set of stages skipped so."""
    waiting = set(todo)
    dirty = set(todo) if dirty is None else set(dirty)
    cut = outs_of is not None and bool(waiting - dirty)
    before = outs_of() if cut else {}
    # stages that ran and recorded other outputs than before -> those outs (None: any of them)
    changed_outs: dict[str, set[str] | None] = {}

    def reads_changed(name: str) -> bool:
        for up in pipeline.upstream[name]:
            if up in changed_outs:
                paths, reads = changed_outs[up], pipeline.reads.get(name, {}).get(up)
                if paths is None or reads is None or paths & reads:
                    return True
        return False

    skipped: set[str] = set()
    finished: set[str] = set()
    running: list[_Running] = []
    failed: list[tuple[str, int, Path]] = []
    free = list(cores)
    total = len(todo)
    log_dir.mkdir(parents=True, exist_ok=True)
    # the stages' commands (`snakemake`, `python -m expanse.worker snakemake`) from this interpreter's
    # environment, also when it was started by path without activating it (.venv/bin/python -m ...)
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    t0 = time.monotonic()

    def note(line: str) -> None:  # each line with the time since the start, as a build log reads
        say(f"{time.monotonic() - t0:6.0f} s  {line}")

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while waiting or running:
            ready = pipeline.ready(waiting, {r.name for r in running})
            unchanged = [n for n in ready if n not in dirty and not reads_changed(n)]
            if unchanged and not failed:
                for name in unchanged:
                    waiting.discard(name)
                    finished.add(name)
                    skipped.add(name)
                    note(f"{name}: skipped (the stages it reads from left their outputs as they were)")
                continue
            if not failed:
                for name, share in zip(ready, split_cores(free, len(ready)), strict=False):
                    waiting.discard(name)
                    for c in share:
                        free.remove(c)
                    log = log_dir / f"{name}.log"
                    with log.open("w", encoding="utf-8") as f:
                        proc = subprocess.Popen(
                            [*dvc_argv, "--wait-for-lock", "repro", "--single-item", target_of(name)],
                            cwd=root,
                            stdin=subprocess.DEVNULL,
                            stdout=f,
                            stderr=subprocess.STDOUT,
                            preexec_fn=_pinned(share),
                            start_new_session=True,
                            env=env,
                        )
                    running.append(_Running(name, proc, share, log, time.monotonic()))
                    on = ("cores " if len(share) > 1 else "core ") + ",".join(map(str, share))
                    note(f"[{len(finished) + len(running)}/{total}] {name}: started on {on}")
            elif not running:
                break
            if not running:  # nothing can start: a cycle, which the generator refuses
                raise StateError(f"{pipeline.path}: no stage of {sorted(waiting)[:3]} can start (a cycle?)")
            done = _wait_any(running)
            running.remove(done)
            free = sorted(free + done.cores)
            code = done.proc.returncode
            took = time.monotonic() - done.started
            if code == 0:
                finished.add(done.name)
                note(f"{done.name}: done in {took:.0f} s")
                # read dvc.lock only when a stage below waits on the answer
                if not (cut and pipeline.downstream[done.name] & (waiting - dirty)):
                    changed_outs[done.name] = None
                else:
                    old, new = dict(before.get(done.name, ())), dict(outs_of().get(done.name, ()))
                    diff = {str(PurePosixPath(p)) for p in old.keys() | new.keys() if old.get(p) != new.get(p)}
                    if diff:
                        changed_outs[done.name] = diff
            else:
                failed.append((done.name, code, done.log))
                note(f"{done.name}: FAILED (exit {code}) after {took:.0f} s: {last_lines(done.log)}")
    except KeyboardInterrupt:
        # the stages run in sessions of their own (a terminal's Ctrl-C reaches only this process):
        # interrupt each, as Ctrl-C interrupts a plain `dvc repro`, and wait for DVC to clean up
        for r in running:
            try:
                os.killpg(r.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        for r in running:
            try:
                r.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:  # it ignores SIGINT (started with it ignored?)
                os.killpg(r.proc.pid, signal.SIGKILL)
                r.proc.wait()
        print(f"interrupted: {', '.join(r.name for r in running) or 'no stage'} stopped", file=sys.stderr)
        return 130, skipped
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failed:
        name, code, log = failed[0]
        print(
            f"error: stage {name} failed (exit {code}; its DVC output: {log}); "
            f"{len(finished)} stages done, {len(waiting)} not started",
            file=sys.stderr,
        )
        return 1, skipped
    return 0, skipped


def _wait_any(running: list[_Running]) -> _Running:
    # polling, not a blocking wait: once polars is imported (expanse.config imports it), a blocking
    # waitid is restarted after SIGINT instead of letting Ctrl-C through; a sleep is not
    while True:
        for r in running:
            if r.proc.poll() is not None:
                return r
        time.sleep(0.1)


def available_cores(limit: int | None) -> list[int]:
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cores = list(range(os.cpu_count() or 1))
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"--cores {limit}: must be at least 1")
        cores = cores[:limit]
    return cores
