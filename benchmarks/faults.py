"""Faults survived: SIGKILL the whole Snakemake process group (Snakemake and every job it runs, as
an OOM killer, a lost node or a power cut would) at N moments, rerun as the README tells a user
(`snakemake --unlock` when Snakemake reports the stale lock, then the same command) until the build
completes, and compare the result byte for byte with an uninterrupted build. Prints figures;
asserts nothing.

The kills are spread over the build and aimed at kinds of job: the rule names are ordered by when
the reference build started them and cut into N consecutive slices; one (seeded) rule of each slice
is a target (N >= the number of rules: every rule). A kill waits until a job of its target rule
starts, then 5-60% of that rule's job time in the reference build, and kills. When that job ends
first, the kill aims at the rule's next job, twice as soon; when the rule has no job left, it kills
at once. A target whose jobs all finished before its turn is skipped. What each kill interrupted
(the jobs running then, by rule) is what is reported.

After every kill the tree is checked for finished-looking artifacts that are not the reference's:
every declared output that exists and that Snakemake has not marked incomplete
(.snakemake/incomplete) must be the reference's bytes (a directory: the same files, the same
bytes); in training resume state, every checkpoint the trainer would resume from (it has a
trainer_state.json) must have one that parses; any other file under results/ must be a job's
scratch (`.NAME.<x>.tmp`, `.NAME.<x>.work/`: counted and listed) or the reference's.

At the end every file under results/ is compared byte for byte with the reference, but for what
holds measured times: eval/lineage.json (only checked to be valid JSON) and the lineage section
of eval/report.html and eval/report.md. Files that differ only in `resumed_from_step` (a training
stage's record of the checkpoint it resumed from) are counted apart. logs/ and benchmarks/ are
not compared.

    .venv/bin/python benchmarks/faults.py --shrink --kills 6                      # the test-sized graph
    .venv/bin/python benchmarks/faults.py --shrink --kills 6 --seed 3 --keep /tmp/faults
    .venv/bin/python benchmarks/faults.py --shrink --kills 6 --reference /tmp/faults/reference  # reuse a build
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from shrink import REPO, copy_repo, shrink_params  # noqa: E402

from expanse.dvc_pipeline import scales_of  # noqa: E402
from expanse.workflow_support import target_rules  # noqa: E402

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
LOCKED = "Directory cannot be locked"
TARGET_RULES = target_rules(scales_of(REPO))
# what a build makes besides its results (never compared, not copied into a fresh tree)
BUILD_PATHS = ("results", "logs", ".snakemake", ".expanse", *(f"benchmarks/{s}" for s in scales_of(REPO)))
# a job's scratch beside its output: expanse.io.atomic_path's .NAME.<hex>.tmp, the merge search's .NAME.<x>.work/
TEMPORARY = re.compile(r"^\..+\.(tmp|work)$")
RESUME = re.compile(r"^results/[^/]+/resume/")  # training resume state: work directories, not outputs
LINEAGE_HTML = re.compile(r"<section id='lineage'>.*?</section>", re.S)


def env(root: Path) -> dict:
    """The tree's own expanse first: the editable install points at the checkout, whose library may
    have moved on since the tree was copied."""
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": path}


# ---- reading Snakemake's output -------------------------------------------------------------------
_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_RULE = re.compile(r"^(?:local)?rule (\w+):$")
_FINISHED = re.compile(r"^Finished job(?:id:)? (\d+)")
_ERROR = re.compile(r"^Error in rule (\w+):")


@dataclass
class JobLog:
    """Jobs started, running and finished, from Snakemake's console output (fed line by line)."""

    running: dict = field(default_factory=dict)  # jobid -> job
    finished: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    _job: dict | None = None
    _time: float | None = None

    def feed(self, line: str) -> None:
        s = line.strip()
        if m := _STAMP.match(s):
            self._time = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y").timestamp()
        elif m := _RULE.match(s):
            self._job = {
                "rule": m.group(1),
                "wildcards": "",
                "output": [],
                "log": [],
                "start": self._time,
                "seen": time.time(),
            }
        elif self._job is not None and s.startswith(("output:", "log:")):
            key, _, value = s.partition(":")
            self._job[key] = [o.strip() for o in value.replace("(check log file(s) for error details)", "").split(",")]
        elif self._job is not None and s.startswith("wildcards:"):
            self._job["wildcards"] = s[len("wildcards:") :].strip()
        elif self._job is not None and s.startswith("jobid:"):
            if self._job["rule"] not in TARGET_RULES:
                self.running[int(s.split()[1])] = self._job
        elif m := _FINISHED.match(s):
            job = self.running.pop(int(m.group(1)), None)
            if job is not None:
                self.finished.append({**job, "end": self._time})
        elif m := _ERROR.match(s):
            self.errors.append(m.group(1))

    def feed_text(self, text: str) -> JobLog:
        for line in text.splitlines():
            self.feed(line)
        return self


class Tail:
    """New complete lines of a growing file."""

    def __init__(self, path: Path):
        self.path, self.pos, self.rest = path, 0, ""

    def lines(self) -> list[str]:
        with self.path.open("rb") as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        text = self.rest + data.decode(errors="replace")
        *done, self.rest = text.split("\n")
        return done


def plan(root: Path, *args: str) -> tuple[list[str], dict[str, int], list[dict]]:
    """Rule names in the order of Snakemake's job table, jobs per rule and every job (rule,
    wildcards, outputs) that `snakemake -n ARGS` plans."""
    out = subprocess.run([*SNAKEMAKE, "-n", *args], cwd=root, capture_output=True, text=True, env=env(root))
    if out.returncode != 0:
        raise RuntimeError(f"snakemake -n {' '.join(args)} failed:\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
    text = out.stdout + out.stderr
    counts, in_table = {}, False
    for line in text.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
        elif in_table and line.startswith("total"):
            break
        elif in_table and (m := re.match(r"^(\w+)\s+(\d+)$", line.strip())):
            if m.group(1) not in TARGET_RULES:
                counts[m.group(1)] = int(m.group(2))
    jobs = JobLog().feed_text(text)
    return list(counts), counts, list(jobs.running.values())


def reference_timing(root: Path) -> tuple[list[str], dict[str, float]]:
    """Rules in the order the reference build first started them, and each rule's median job
    duration there (from Snakemake's own logs in .snakemake/log)."""
    order, spans = [], {}
    for log in sorted((root / ".snakemake/log").glob("*.snakemake.log")):
        jobs = JobLog().feed_text(log.read_text(errors="replace"))
        for job in sorted(jobs.finished, key=lambda j: j["start"] or 0):
            if job["rule"] not in order:
                order.append(job["rule"])
            if job["start"] is not None and job["end"] is not None:
                spans.setdefault(job["rule"], []).append(job["end"] - job["start"])
    return order, {r: sorted(d)[len(d) // 2] for r, d in spans.items()}


# ---- comparing trees -----------------------------------------------------------------------------
def normalised(rel: str, data: bytes) -> bytes | None:
    """The bytes compared for a file; None: only checked to parse (lineage.json: measured times)."""
    if rel.endswith("/eval/lineage.json"):
        return None
    if rel.endswith("/eval/report.html"):
        return LINEAGE_HTML.sub("", data.decode()).encode()
    if rel.endswith("/eval/report.md"):
        return data.decode().split("\n## Lineage and cost\n")[0].encode()
    return data


def digest(root: Path, rel: str) -> str:
    data = (root / rel).read_bytes()
    norm = normalised(rel, data)
    if norm is None:
        try:
            json.loads(data)
            return "valid json"
        except ValueError:
            return "INVALID json"
    return hashlib.sha256(norm).hexdigest()


def files_under(root: Path, top: str = "results") -> list[str]:
    base = root / top
    if not base.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in base.rglob("*") if p.is_file() or p.is_symlink())


def tree_digests(root: Path) -> dict[str, str]:
    return {rel: digest(root, rel) for rel in files_under(root)}


def incomplete_outputs(root: Path) -> set[str]:
    """Outputs Snakemake marked incomplete: a job that started and did not finish."""
    base = root / ".snakemake/incomplete"
    out = set()
    if base.is_dir():
        for p in base.rglob("*"):
            if p.is_file():
                parts = p.relative_to(base).parts
                b64 = "".join(x.lstrip("@") for x in parts)
                try:
                    out.add(base64.urlsafe_b64decode(b64).decode())
                except ValueError:
                    continue
    return out


def inside(rel: str, outputs) -> str | None:
    for o in outputs:
        if rel == o or rel.startswith(o.rstrip("/") + "/"):
            return o
    return None


@dataclass
class Inspection:
    """What a tree holds after a kill (or at the end), against the reference."""

    # an output Snakemake takes as done that is not the reference's (cut off, or not reproduced), or a
    # resume checkpoint the trainer would resume from (its trainer_state.json exists) that is cut off
    finished_looking_bad: list = field(default_factory=list)
    incomplete_present: list = field(default_factory=list)  # marked incomplete and present (Snakemake redoes it)
    temporaries: list = field(default_factory=list)
    resume_files: int = 0
    # under results/, not an output of the jobs run here (nor a temporary, nor resume state), and not
    # as the reference has it
    unexpected: list = field(default_factory=list)


def inspect(root: Path, ref: dict[str, str], outputs: list[str], ref_root: Path | None = None) -> Inspection:
    """With REF_ROOT, files that differ from it only in RUN_RECORDS count as the same."""
    marked = incomplete_outputs(root)
    found = Inspection()
    cur = {}
    for rel in files_under(root):
        if any(TEMPORARY.match(part) for part in rel.split("/")):
            found.temporaries.append(rel)
        elif RESUME.match(rel):
            found.resume_files += 1
            if rel.endswith("/trainer_state.json"):  # what marks a resume checkpoint complete
                try:
                    json.loads((root / rel).read_bytes())
                except ValueError:
                    found.finished_looking_bad.append((rel.rsplit("/", 1)[0], [rel]))
        elif inside(rel, outputs) is None:
            if ref.get(rel) != digest(root, rel):  # not the run's to make, and not as the reference has it
                found.unexpected.append(rel)
        else:
            cur[rel] = digest(root, rel)
    for out in outputs:
        target = root / out
        if not target.exists():
            continue
        if target.is_dir():
            mine = {r: d for r, d in cur.items() if r.startswith(out + "/")}
            theirs = {r: d for r, d in ref.items() if r.startswith(out + "/")}
        else:
            mine, theirs = {out: cur.get(out)}, {out: ref.get(out)}
        if inside(out, marked) is not None:
            if mine != theirs:
                found.incomplete_present.append(out)
        elif mine != theirs:
            diff = sorted(
                r
                for r in set(mine) | set(theirs)
                if mine.get(r) != theirs.get(r)
                and not (ref_root is not None and same_but_for_run_records(ref_root, root, r))
            )
            if diff:
                found.finished_looking_bad.append((out, diff[:5]))
    return found


def fresh_tree(src: Path, dest: Path) -> Path:
    """The reference's source files (what copy_repo copied there), without anything a build made."""

    def ignore(directory, names):
        rel = Path(directory).relative_to(src)
        return [n for n in names if str(rel / n).removeprefix("./") in BUILD_PATHS]

    shutil.copytree(src, dest, symlinks=True, ignore=ignore)
    return dest


# ---- killing and resuming ------------------------------------------------------------------------
def kill_group(proc: subprocess.Popen, root: Path | None = None) -> None:
    """SIGKILL Snakemake and every job it runs (one process group), and wait until none of them runs
    (zombies left to init to reap do not count), nor a warm-worker child working in `root` (the
    server SIGKILLs a job's child when the job's process dies; expanse/worker.py)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and (_alive_in_group(proc.pid) or (root is not None and _warm_children_in(root))):
        time.sleep(0.05)


def _warm_children_in(root: Path) -> bool:
    from expanse.worker import servers

    parents = {pid for _, pid in servers() if pid}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if (
                int(fields[1]) in parents
                and fields[0] not in "ZX"
                and Path(os.readlink(stat.parent / "cwd")).is_relative_to(root.resolve())
            ):
                return True
        except (OSError, IndexError, ValueError):
            continue
    return False


def _alive_in_group(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            return True
    return False


def run_plain(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, *args], cwd=root, capture_output=True, text=True, env=env(root))


@dataclass
class Kill:
    target: str | None
    at: float  # seconds since the faulted build started
    running: list  # (rule, wildcards) of the jobs running at the kill
    inspection: Inspection


@dataclass
class Faulted:
    kills: list = field(default_factory=list)
    unlocks: int = 0
    runs: int = 0
    skipped: list = field(default_factory=list)
    lock_message: str = ""
    wall: float = 0.0
    failure: str = ""


@dataclass
class Target:
    """Kill once a job of RULE has run DELAY seconds (and READY(root) holds, when given)."""

    rule: str
    delay: float = 0.0
    ready: object = None  # callable(root) -> bool


def run_with_kills(
    root: Path,
    first: list[str],
    rerun: list[str],
    schedule: list[Target],
    ref: dict[str, str],
    outputs: list[str],
    *,
    log_dir: Path,
    ref_root: Path | None = None,
    pending=None,
    timeout: float = 7200,
    on_kill=None,
) -> Faulted:
    """Start `snakemake FIRST`; for each target of SCHEDULE wait until a job of its rule starts, its
    delay more (and its ready() condition), and SIGKILL the process group; then do what the README
    tells a user: run `snakemake RERUN`, and when Snakemake reports the stale lock,
    `snakemake --unlock` and the command again. The last run goes to completion.
    `pending(rule, done_jobs)` says whether a rule still has jobs to run (a target without is skipped);
    `on_kill(root, kill_number)` runs right after each kill."""
    result, start = Faulted(), time.time()
    args, done_jobs = first, set()
    queue = list(schedule)
    while True:
        target = None
        while queue:
            if pending is None or pending(queue[0].rule, done_jobs):
                target = queue[0]
                break
            result.skipped.append(queue.pop(0).rule)
        result.runs += 1
        log_path = log_dir / f"run{result.runs:02d}.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [*SNAKEMAKE, *args],
                cwd=root,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env(root),
                start_new_session=True,
            )
        tail, jobs, armed, kill_at = Tail(log_path), JobLog(), None, None
        delay = target.delay if target is not None else 0.0
        while True:
            for line in tail.lines():
                jobs.feed(line)
            done_jobs.update((j["rule"], j["wildcards"]) for j in jobs.finished)
            if proc.poll() is not None:
                for line in tail.lines() + ([tail.rest] if tail.rest else []):
                    jobs.feed(line)
                break
            if target is not None and armed is not None and armed not in jobs.running:
                # the job ended before the kill: aim at the next job of the rule, sooner; or, when the
                # rule has none left, kill now
                armed, delay = None, delay / 2
                kill_at = None if pending is None or pending(target.rule, done_jobs) else time.time()
            if target is not None and armed is None and kill_at is None:
                started = [(jid, j) for jid, j in jobs.running.items() if j["rule"] == target.rule]
                if started:
                    armed, kill_at = started[0][0], started[0][1]["seen"] + delay
            if kill_at is not None and time.time() >= kill_at and (target.ready is None or target.ready(root)):
                running = sorted((j["rule"], j["wildcards"]) for j in jobs.running.values())
                at = time.time() - start
                kill_group(proc, root)
                done_jobs.update((j["rule"], j["wildcards"]) for j in jobs.finished)
                if on_kill is not None:
                    on_kill(root, len(result.kills) + 1)
                result.kills.append(Kill(target.rule, at, running, inspect(root, ref, outputs, ref_root)))
                queue.pop(0)
                break
            if time.time() - start > timeout:
                kill_group(proc, root)
                result.failure = f"timed out after {timeout:.0f} s"
                result.wall = time.time() - start
                return result
            time.sleep(0.2)
        if proc.returncode is not None and proc.returncode < 0:  # we killed it: the user runs the command again
            args = rerun
            continue
        text = log_path.read_text(errors="replace")
        if proc.returncode == 0:
            result.wall = time.time() - start
            return result
        if LOCKED in text:  # what the README says to do about it
            result.unlocks += 1
            result.lock_message = result.lock_message or text
            unlock = run_plain(root, "--unlock")
            if unlock.returncode != 0:
                result.failure = f"snakemake --unlock failed:\n{unlock.stdout[-2000:]}{unlock.stderr[-2000:]}"
                break
            continue
        result.failure = (
            f"snakemake {' '.join(args)} failed ({proc.returncode}), errors in {jobs.errors}:\n" + text[-4000:]
        )
        break
    result.wall = time.time() - start
    return result


def pick_targets(order: list[str], kills: int, rng: random.Random) -> list[str]:
    """KILLS rules spread over the build: ORDER cut into consecutive slices, one rule from each."""
    if kills >= len(order):
        extra = sorted(
            rng.sample(range(len(order)), kills - len(order))
            if kills - len(order) <= len(order)
            else [rng.randrange(len(order)) for _ in range(kills - len(order))]
        )
        return sorted(list(order) + [order[i] for i in extra], key=order.index)
    bounds = [round(i * len(order) / kills) for i in range(kills + 1)]
    return [order[rng.randrange(lo, hi)] for lo, hi in zip(bounds, bounds[1:])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=6, help="SIGKILLs; as many as rules: every rule once")
    ap.add_argument("--seed", type=int, default=0, help="which rules are aimed at, and when")
    ap.add_argument("--shrink", action="store_true", help="the test suite's shrunken config")
    ap.add_argument("--cores", type=int, default=2, help="snakemake -cN")
    ap.add_argument("--keep", type=Path, help="build in this (new) directory and keep it")
    ap.add_argument(
        "--reference",
        type=Path,
        help="a completed uninterrupted build to compare with (its source files are what the faulted build runs)",
    )
    ap.add_argument("--timeout", type=float, default=6 * 3600, help="give up on the faulted build after this many s")
    args = ap.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args, args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
            run(args, Path(tmp))


def run(args, work: Path) -> None:
    rng = random.Random(args.seed)
    cmd = [f"-c{args.cores}", "all"]

    ref_wall = None
    if args.reference is not None:
        reference = args.reference.resolve()
        left = run_plain(reference, "-n", "all")
        if "Nothing to be done" not in left.stdout + left.stderr:
            raise SystemExit(f"{reference}: not a completed build (snakemake -n all has work left)")
    else:
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        if args.shrink:
            params = shrink_params(params)
        reference = copy_repo(work / "reference", params)
        t0 = time.time()
        built = run_plain(reference, *cmd)
        ref_wall = time.time() - t0
        if built.returncode != 0:
            raise SystemExit(f"the reference build failed:\n{built.stdout[-3000:]}{built.stderr[-3000:]}")

    root = fresh_tree(reference, work / "faulted")
    kinds, counts, jobs = plan(root, "all")
    outputs = sorted({o for j in jobs for o in j["output"]})
    order, durations = reference_timing(reference)
    order = [r for r in order if r in counts] + [r for r in kinds if r not in order]
    ref = tree_digests(reference)
    targets = pick_targets(order, args.kills, rng)
    schedule = [Target(r, rng.uniform(0.05, 0.6) * durations.get(r, 5.0)) for r in targets]
    logs = work / "faulted-logs"
    logs.mkdir(exist_ok=True)
    res = run_with_kills(
        root,
        cmd,
        cmd,
        schedule,
        ref,
        outputs,
        log_dir=logs,
        ref_root=reference,
        timeout=args.timeout,
        pending=lambda rule, done: sum(1 for r, _ in done if r == rule) < counts[rule],
    )
    report(args, cmd, reference, ref_wall, root, counts, order, ref, outputs, res)
    if args.keep:
        print(f"kept in {work}: reference/ (unless --reference), faulted/, faulted-logs/ (each run's output)")


def report(args, cmd, reference: Path, ref_wall, root: Path, counts, order, ref, outputs, res: Faulted) -> None:
    final = inspect(root, ref, outputs, reference)
    mine = {r: d for r, d in tree_digests(root).items() if not any(TEMPORARY.match(x) for x in r.split("/"))}
    differ = sorted(r for r in set(mine) | set(ref) if mine.get(r) != ref.get(r))
    why = {r: explain(reference, root, r) for r in differ}
    after = run_plain(root, "-n", "all")
    nothing_left = "Nothing to be done" in after.stdout + after.stderr
    params = yaml.safe_load((root / "params.yaml").read_text())
    survived = len(res.kills) - (1 if res.failure and res.kills else 0)
    by_kind = Counter(rule for k in res.kills for rule, _ in k.running)
    bad = {}  # (output, files) -> the kills after which it was seen
    for i, k in enumerate(res.kills, 1):
        for out, files in k.inspection.finished_looking_bad:
            bad.setdefault((out, tuple(files)), []).append(i)
    unexpected = [(i, u) for i, k in enumerate(res.kills, 1) for u in k.inspection.unexpected]

    print(
        f"graph: {sum(counts.values())} jobs of {len(counts)} rules; languages: {len(params['languages'])}, "
        f"families: {len(params['families'])}; cores: {args.cores}; seed: {args.seed}"
    )
    print(
        "reference build:        " + (f"reused {reference}" if ref_wall is None else f"{ref_wall:.0f} s, uninterrupted")
    )
    print(
        f"faulted build:          {res.wall:.0f} s, {res.runs} runs of `snakemake {' '.join(cmd)}`, "
        f"`snakemake --unlock` needed {res.unlocks} times"
    )
    if res.lock_message:
        print("  a rerun after a kill says: " + next(line for line in res.lock_message.splitlines() if LOCKED in line))
    if res.failure:
        print(f"FAILED: {res.failure}")
    print(
        f"kills survived:         {survived} of {len(res.kills)}"
        + (f" (targets skipped, their jobs already done: {', '.join(res.skipped)})" if res.skipped else "")
    )
    print(
        "jobs interrupted by kind: "
        + (
            ", ".join(
                f"{r} {n}"
                for r, n in sorted(by_kind.items(), key=lambda x: order.index(x[0]) if x[0] in order else len(order))
            )
            or "none"
        )
    )
    for i, k in enumerate(res.kills, 1):
        print(
            f"  kill {i} at {k.at:6.0f} s, aimed at {k.target}: "
            + (
                ", ".join(
                    f"{r}[{w.replace('scale=tiny, ', '').replace('scale=tiny', '')}]".replace("[]", "")
                    for r, w in k.running
                )
                or "no job running (Snakemake itself)"
            )
            + f"; outputs marked incomplete and present: {len(k.inspection.incomplete_present)}"
            + (
                f" ({', '.join(k.inspection.incomplete_present)})"
                if 0 < len(k.inspection.incomplete_present) <= 3
                else ""
            )
            + f", temporaries: {len(k.inspection.temporaries)}"
        )
    print(
        f"finished-looking artifacts that differ from the reference, seen after a kill: {len(bad)}"
        + "".join(
            f"\n  {o}, after kills {', '.join(map(str, seen))}: "
            + "; ".join(f"{r}: {explain(reference, root, r)}" for r in files)
            for (o, files), seen in bad.items()
        )
    )
    if unexpected:
        print(
            "files under results/ neither an output, a temporary nor resume state: "
            + ", ".join(f"{u} (kill {i})" for i, u in unexpected)
        )
    print(
        f"left at the end: {len(final.temporaries)} temporaries, {final.resume_files} files of resume state; "
        f"`snakemake -n all`: {'nothing to be done' if nothing_left else 'WORK LEFT'}"
        + "".join(f"\n  {t}" for t in final.temporaries)
    )
    records_only = [r for r in differ if same_but_for_run_records(reference, root, r)]
    print(
        f"identical: {'yes' if not differ and not res.failure else 'no'}: {len(ref)} files under results/ "
        f"compared byte for byte with the reference, {len(differ)} differ"
        + (f" ({len(records_only)} only in {', '.join(RUN_RECORDS)})" if records_only else "")
        + "; eval/lineage.json and the lineage section of eval/report.{html,md} hold measured times and "
        "are left out" + "".join(f"\n  differs: {r}: {why[r]}" for r in differ[:60])
    )


# what a training job records about its own run: `resumed_from_step` in the stage's metrics says from
# which checkpoint a killed job resumed, so it differs from an uninterrupted run by design
RUN_RECORDS = ("resumed_from_step",)


def same_but_for_run_records(ref_root: Path, root: Path, rel: str) -> bool:
    """Both files are JSON and equal once the RUN_RECORDS keys are dropped."""

    def load(path):
        try:
            return _drop(json.loads(path.read_bytes()))
        except (OSError, ValueError):
            return None

    a, b = load(ref_root / rel), load(root / rel)
    return a is not None and a == b


def _drop(obj):
    if isinstance(obj, dict):
        return {k: _drop(v) for k, v in obj.items() if k not in RUN_RECORDS}
    if isinstance(obj, list):
        return [_drop(v) for v in obj]
    return obj


def explain(ref_root: Path, root: Path, rel: str) -> str:
    """How a file differs from the reference's."""
    a, b = ref_root / rel, root / rel
    if not b.exists():
        return "missing"
    if not a.exists():
        return "not in the reference"
    x, y = a.read_bytes(), b.read_bytes()
    try:
        jx, jy = json.loads(x), json.loads(y)
    except ValueError:
        return f"{len(y)} bytes against {len(x)}" + (", a prefix of it (truncated)" if x.startswith(y) else "")
    keys = sorted(_json_diff(jx, jy))
    return "JSON differs at " + ", ".join(keys[:8]) + (" ..." if len(keys) > 8 else "")


def _json_diff(a, b, path="") -> set[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return {d for k in set(a) | set(b) for d in _json_diff(a.get(k), b.get(k), f"{path}.{k}" if path else k)}
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return {d for i, (u, v) in enumerate(zip(a, b)) for d in _json_diff(u, v, f"{path}[{i}]")}
    return set() if a == b else {path or "(top)"}


if __name__ == "__main__":
    main()
