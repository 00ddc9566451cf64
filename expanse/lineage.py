"""Lineage and cost of every artifact of a scale.

For each job of the scale's graph: the rule and the parameter values that made it (and the
params.yaml keys they come from), its inputs and outputs with content hashes, the models it loaded
(hub ID and revision, or a local checkpoint with its hash), the code (git commit of the checkout,
the script's and rule file's hashes, the project modules the script imports and the fingerprint
over both that reruns the job when one changes) and what it cost: wall time, CPU time and peak
memory from its Snakemake `benchmark:` file, GPU-hours = wall time x GPUs requested, and the
planned GPU-hours from the resources table (runtime x GPUs, an upper bound). Summaries: per phase (the
rule file), per family, per language, and the most expensive jobs.

Before anything runs, `plan` also counts the models each job loads (job_models, model_loads: the
same derivation the built lineage records) and the GPU-hours spent loading them: the weights' size
from params.yaml (size_b on a model entry; the workflow's checkpoints and merges have the base
model's; no size_b: unknown), read at the scale's model_load assumptions, times the job's GPUs;
and what batching would save, running the jobs of a rule that load the same models on the same GPUs
in as few processes as their dependencies allow.

    python -m expanse.lineage plan --scale 32b        # planned GPU-hours and model loads before anything runs
    python -m expanse.lineage write --scale tiny OUT  # what rule `lineage` runs (the built graph)

The graph is read from Snakemake itself (as `snakemake --forceall -n` plans it), so it is the same
on a workstation, on the cluster and after `dvc pull`. By the time rule `lineage` runs, Snakemake
has rerun every job whose code, params or inputs changed, so the checkout's commit is the code of
every artifact; a checkout with uncommitted changes to the code is marked dirty.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from expanse import layout as L
from expanse.io import file_digest, write_json

REPORT_RULES = ("eval_report", "lineage")  # what lineage describes does not include itself
CODE_PATHS = ("Snakefile", "rules", "scripts", "expanse", "envs", "params.yaml", "pyproject.toml")
TOP_JOBS = 10


# ------------------------------------------------------------------------------------ hashes
class Hasher:
    """sha256 of files and directories, remembered by (size, mtime, inode) in a cache file so that
    multi-GB checkpoints are read once, not on every lineage run (DVC's state database does the
    same). A directory's hash is over its files' relative paths and hashes."""

    def __init__(self, cache_path: Path | None = None):
        self.cache_path = cache_path
        self.cache: dict[str, list] = {}
        if cache_path is not None and cache_path.is_file():
            try:
                self.cache = json.loads(cache_path.read_text())
            except ValueError:
                self.cache = {}
        self.memo: dict[str, str | None] = {}

    def file(self, path: Path) -> str:
        st = path.stat()
        key = str(path.resolve())
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        hit = self.cache.get(key)
        if hit is not None and hit[:3] == stamp:
            return hit[3]
        self.cache[key] = [*stamp, file_digest(path)]
        return self.cache[key][3]

    def __call__(self, path: str | Path) -> str | None:
        """The content hash of a file or directory; None if it does not exist."""
        key = str(path)
        if key not in self.memo:
            p = Path(path)
            if p.is_file():
                self.memo[key] = self.file(p)
            elif p.is_dir():
                h = hashlib.sha256()
                for f in sorted(x for x in p.rglob("*") if x.is_file()):
                    h.update(f"{f.relative_to(p).as_posix()}\0{self.file(f)}\n".encode())
                self.memo[key] = h.hexdigest()
            else:
                self.memo[key] = None
        return self.memo[key]

    def save(self) -> None:
        if self.cache_path is not None:
            write_json(self.cache, self.cache_path)


# ------------------------------------------------------------------------------------ costs
def _number(value: str | None) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):  # Snakemake writes NA where psutil could not measure
        return None


def read_benchmark(path: str | Path, log: str | Path | None = None) -> dict | None:
    """Wall seconds, CPU seconds and peak RSS (MB) from a Snakemake benchmark TSV (first row). A job
    that ran in the warm worker (expanse.worker) did its work in a child its process only waited
    for: the child's CPU time (from the job log's last line) is added and its peak RSS counts."""
    p = Path(path)
    if not p.is_file():
        return None
    with p.open(newline="") as f:
        row = next(csv.DictReader(f, delimiter="\t"), None)
    if row is None:
        return None
    out = {
        "wall_s": _number(row.get("s")),
        "cpu_s": _number(row.get("cpu_time")),
        "max_rss_mb": _number(row.get("max_rss")),
    }
    if log is not None and Path(log).is_file():
        from expanse.worker import read_usage

        child = read_usage(Path(log).read_text(errors="replace"))
        if child is not None:
            out["cpu_s"] = round((out["cpu_s"] or 0.0) + child["user_s"] + child["sys_s"], 3)
            out["max_rss_mb"] = max(out["max_rss_mb"] or 0.0, child["max_rss_mb"])
    return out


def job_cost(measured: dict | None, *, gpus: int, runtime_min: float | None) -> dict:
    """GPU-hours = wall time x GPUs requested; planned = the resources' runtime x GPUs."""
    cost = {
        "measured": measured is not None,
        "wall_s": None,
        "cpu_s": None,
        "max_rss_mb": None,
        "gpus": gpus,
        "gpu_hours": None,
        "planned_gpu_hours": round(runtime_min / 60 * gpus, 6) if runtime_min is not None else None,
    }
    if measured is not None:
        cost.update(measured)
        if measured["wall_s"] is not None:
            cost["gpu_hours"] = round(measured["wall_s"] / 3600 * gpus, 6)
    return cost


def _add(total: dict, cost: dict) -> None:
    total["jobs"] += 1
    total["measured_jobs"] += bool(cost["measured"])
    for key, src in (("wall_h", "wall_s"), ("cpu_h", "cpu_s")):
        if cost.get(src) is not None:
            total[key] += cost[src] / 3600
    for key in ("gpu_hours", "planned_gpu_hours"):
        if cost.get(key) is not None:
            total[key] += cost[key]
    if cost.get("max_rss_mb") is not None:
        total["max_rss_mb"] = max(total["max_rss_mb"], cost["max_rss_mb"])


def _zero() -> dict:
    return {
        "jobs": 0,
        "measured_jobs": 0,
        "wall_h": 0.0,
        "cpu_h": 0.0,
        "gpu_hours": 0.0,
        "planned_gpu_hours": 0.0,
        "max_rss_mb": 0.0,
    }


def _rounded(total: dict) -> dict:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in total.items()}


def summarize(jobs: dict[str, dict], family_of: dict[str, str], top: int = TOP_JOBS) -> dict:
    """Totals per phase, per family (a language's jobs count toward its family), per language, in
    all, and the most expensive jobs (by GPU-hours, then wall time)."""
    phases: dict[str, dict] = {}
    families: dict[str, dict] = {}
    languages: dict[str, dict] = {}
    total = _zero()
    for job in jobs.values():
        cost = job["cost"]
        _add(phases.setdefault(job["phase"], _zero()), cost)
        _add(total, cost)
        wc = job["wildcards"]
        if "lang" in wc:
            _add(languages.setdefault(wc["lang"], _zero()), cost)
        family = wc.get("family") or family_of.get(wc.get("lang", ""))
        if family:
            _add(families.setdefault(family, _zero()), cost)
    ranked = sorted(
        jobs.items(), key=lambda kv: (-(kv[1]["cost"]["gpu_hours"] or 0), -(kv[1]["cost"]["wall_s"] or 0), kv[0])
    )
    return {
        "total": _rounded(total),
        "phases": {k: _rounded(v) for k, v in phases.items()},
        "families": {k: _rounded(v) for k, v in sorted(families.items())},
        "languages": {k: _rounded(v) for k, v in sorted(languages.items())},
        "top_jobs": [
            {
                "job": name,
                "rule": j["rule"],
                **{
                    k: j["cost"][k] for k in ("wall_s", "cpu_s", "max_rss_mb", "gpus", "gpu_hours", "planned_gpu_hours")
                },
            }
            for name, j in ranked[:top]
        ],
    }


# ------------------------------------------------------------------------------------ models and code
def _is_ref(value) -> bool:
    return isinstance(value, dict) and "location" in value and "load" in value


def job_models(params: dict, inputs, is_model_dir) -> list[dict]:
    """The models a job names, as [{role, location, load}]: its resolved model references
    ({location, load}) under their param name, then the model directories among its inputs that no
    reference names (a training job's start), under the input's name (load None). `inputs`: paths,
    or (name, path) pairs; is_model_dir(path) says whether an input is a model (a built checkpoint
    has a config.json; before anything runs, a rule's model output). Each input counts once per time
    it is listed: online iteration 1 lists the DPO model as its policy and as its reference."""
    out = [
        {"role": role, "location": str(v["location"]), "load": v["load"] or {}}
        for role, v in params.items()
        if _is_ref(v)
    ]
    named = {m["location"] for m in out}
    for item in inputs:
        name, path = item if isinstance(item, tuple) else (None, item)
        if str(path) not in named and is_model_dir(path):
            out.append({"role": name or "input", "location": str(path), "load": None})
    return out


def model_loads(models: list[dict], training: dict | None) -> list[dict]:
    """Every from_pretrained a job runs, from job_models and its `training` param. A DPO job (its
    training section has beta) loads a reference besides the policy (the first model): the input
    named `reference`, else the policy's own checkpoint (rule train_dpo: reference = the SFT model);
    with LoRA and the same checkpoint trl uses the adapter-free policy instead, and with LoRA the
    start checkpoint is loaded once more to fold the adapter in (expanse/training/trainers.py)."""
    if not training or not models:
        return list(models)
    lora = training.get("lora")
    loads = list(models)
    if "beta" in training:
        policy = models[0]
        ref = next((m for m in models[1:] if m["role"] == "reference"), None)
        if ref is None and not lora:
            loads.append({**policy, "role": "reference"})
        elif ref is not None and lora and ref["location"] == policy["location"]:
            loads.remove(ref)
    if lora:
        loads.append({**models[0], "role": "lora merge"})
    return loads


def models_of(params: dict, hasher, inputs=(), root: Path | None = None) -> list[dict]:
    """The models a job loads (job_models), as lineage records them: a hub ID with its revision, or
    a local checkpoint with its content hash. `inputs`: absolute paths or (name, path) pairs; a
    checkpoint among them is a directory with a config.json."""

    def rel(path) -> str:
        return Path(path).relative_to(root).as_posix() if root is not None else str(path)

    def is_model_dir(path) -> bool:
        p = root / path if root is not None else Path(path)
        return p.is_dir() and (p / "config.json").is_file()

    named = [item if isinstance(item, tuple) else (None, item) for item in inputs]
    out = []
    for m in job_models(params, [(name, rel(path)) for name, path in named], is_model_dir):
        location, load = m["location"], m["load"]
        if load is None or Path(location).exists() or location.startswith(L.RESULTS_DIR + "/"):
            out.append({"role": m["role"], "path": location, "sha256": hasher(location)})
        else:
            out.append(
                {
                    "role": m["role"],
                    "hf": location,
                    "revision": load.get("revision") or "main (unpinned)",
                    "trust_remote_code": bool(load.get("trust_remote_code")),
                }
            )
    return out


# ------------------------------------------------------------------------------------ model loads
BYTES_PER_PARAM = {"float32": 4, "bfloat16": 2, "float16": 2}
MODEL_OUTPUTS = ("checkpoint", "merged", "model")  # the names rules give a directory output that is a model
TOP_BATCHES = 10


def model_sizes(params, scale: str, built=()) -> dict[str, dict]:
    """Billions of parameters of each model location the scale's jobs load, and the params.yaml key
    it comes from: every model entry (base, reward_model, teachers.NAME, eval.judge.model) at the
    location its jobs load it from, with its size_b (None: unknown); a model the workflow builds
    (`built`: the training checkpoints and merges) that is no entry's location has the base model's
    size (fine-tuning and merging keep the architecture). {location: {size_b, key, inherited}}."""
    from expanse import workflow_support as ws
    from expanse.errors import ConfigError

    s = params.scales[scale]
    entries = {
        "base": ("base", s.base),
        "reward_model": ("reward_model", s.reward_model),
        **{f"teachers.{t}": (f"teachers.{t}", ref) for t, ref in s.teachers.items()},
    }
    if s.eval.judge.model is not None:
        entries["judge"] = ("eval.judge.model", s.eval.judge.model)
    out: dict[str, dict] = {}
    for role, (key, ref) in entries.items():
        location, size = ws.model_ref(params, scale, role)["location"], ref.size_b
        key = f"scales.{scale}.{key}.size_b"
        prev = out.get(location)
        if prev is not None and None not in (prev["size_b"], size) and prev["size_b"] != size:
            raise ConfigError(
                f"params.yaml: {key}: {size} differs from {prev['key']} ({prev['size_b']}), the same model {location}"
            )
        if prev is None or prev["size_b"] is None:
            out[location] = {"size_b": size, "key": key, "inherited": False}
    base = out[ws.model_ref(params, scale, "base")["location"]]
    for location in built:
        out.setdefault(location, {"size_b": base["size_b"], "key": base["key"], "inherited": True})
    return out


def _ancestors(jobs: dict[str, dict]) -> dict[str, set]:
    """Every job's transitive dependencies (its `after` names, and theirs)."""
    memo: dict[str, set] = {}
    for start in jobs:
        if start in memo:
            continue
        stack = [start]
        while stack:
            name = stack[-1]
            todo = [d for d in jobs[name].get("after", ()) if d in jobs and d not in memo]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            memo[name] = set().union(*({d} | memo[d] for d in jobs[name].get("after", ()) if d in jobs))
    return memo


def _longest_chain(members: list[str], ancestors: dict[str, set]) -> int:
    """The most members on one dependency path: the fewest processes that can run them all when a
    process runs only jobs whose inputs exist (one that depends on another must wait for it)."""
    longest: dict[str, int] = {}
    for m in sorted(members, key=lambda n: len(ancestors[n])):  # an ancestor has fewer ancestors
        longest[m] = 1 + max((longest[a] for a in longest if a in ancestors[m]), default=0)
    return max(longest.values(), default=0)


def _zero_loads() -> dict:
    return {
        "jobs": 0,
        "loads": 0,
        "gpu_hours": 0.0,
        "unknown_jobs": 0,
        "planned_gpu_hours": 0.0,
        "batched_loads": 0,
        "loads_avoided": 0,
        "gpu_hours_saved": 0.0,
    }


def _finish(t: dict) -> dict:
    t["loads_avoided"] = t["loads"] - t["batched_loads"]
    share = t["gpu_hours"] / t["planned_gpu_hours"] if t["planned_gpu_hours"] else None
    return {**_rounded(t), "share": share}


def plan_loads(jobs: dict[str, dict], sizes: dict[str, dict], assumptions: dict) -> dict:
    """Model-load cost of a planned graph. jobs: name -> {phase, cost: {gpus, planned_gpu_hours},
    loads: [{role, location}] (model_loads), after: [names of the jobs it depends on]}; sizes:
    model_sizes; assumptions: scales.SCALE.model_load. A job holds its GPUs for startup_s and then
    for each load's weights (size_b x 1e9 x bytes per parameter) read at read_gb_per_s GB/s: its
    load GPU-hours are that time x its GPUs (unknown when a loaded model's size is, unless it has no
    GPUs). Batching: the jobs of one rule that load the same models on the same GPUs run in as few
    processes as their dependencies allow (the longest chain of them), each loading once; a job with
    `batchable` false (one that writes a model: training changes the weights it loaded) keeps its own."""
    bytes_per = BYTES_PER_PARAM[assumptions["weights_dtype"]]
    bw, startup = assumptions["read_gb_per_s"] * 1e9, assumptions["startup_s"]
    total, phases, models, groups = _zero_loads(), {}, {}, {}
    for name, job in jobs.items():
        phase, gpus = job["phase"], job["cost"]["gpus"]
        planned = job["cost"]["planned_gpu_hours"] or 0.0
        for t in (total, phases.setdefault(phase, _zero_loads())):
            t["planned_gpu_hours"] += planned
        loads = job.get("loads") or []
        if not loads:
            continue
        seconds = []
        for i, load in enumerate(loads):
            size = sizes.get(load["location"], {}).get("size_b")
            seconds.append(None if size is None else (startup if i == 0 else 0.0) + size * 1e9 * bytes_per / bw)
        known = gpus == 0 or None not in seconds
        hours = sum(x or 0.0 for x in seconds) / 3600 * gpus if known else None
        for t in (total, phases[phase]):
            t["jobs"] += 1
            t["loads"] += len(loads)
            t["gpu_hours"] += hours or 0.0
            t["unknown_jobs"] += not known
        for load, sec in zip(loads, seconds):
            info = sizes.get(load["location"], {})
            m = models.setdefault(
                load["location"],
                {
                    "location": load["location"],
                    "size_b": info.get("size_b"),
                    "size_key": info.get("key"),
                    "inherited": bool(info.get("inherited")),
                    "loads": 0,
                    "gpu_loads": 0,
                    "gpu_hours": 0.0,
                    "batched_loads": 0,
                },
            )
            m["loads"] += 1
            m["gpu_loads"] += gpus > 0
            if known:
                m["gpu_hours"] += (sec or 0.0) / 3600 * gpus
        key = (phase, job["rule"], tuple(load["location"] for load in loads), gpus, job.get("batchable", True) or name)
        groups.setdefault(key, {"jobs": [], "gpu_hours": hours})["jobs"].append(name)
    ancestors = _ancestors(jobs)
    batches = []
    for (phase, rule, locations, gpus, _), g in groups.items():
        n = _longest_chain(g["jobs"], ancestors)
        per_job = g["gpu_hours"]
        saved = (len(g["jobs"]) - n) * per_job if per_job is not None else 0.0
        for t in (total, phases[phase]):
            t["batched_loads"] += n * len(locations)
            t["gpu_hours_saved"] += saved
        for location in locations:
            models[location]["batched_loads"] += n
        batches.append(
            {
                "phase": phase,
                "rule": rule,
                "models": list(locations),
                "gpus": gpus,
                "jobs": len(g["jobs"]),
                "processes": n,
                "loads": len(g["jobs"]) * len(locations),
                "batched_loads": n * len(locations),
                "gpu_hours": round(per_job * len(g["jobs"]), 6) if per_job is not None else None,
                "gpu_hours_saved": round(saved, 6),
            }
        )
    batches.sort(key=lambda b: (-b["gpu_hours_saved"], -(b["loads"] - b["batched_loads"]), b["rule"], b["models"]))
    unknown: dict[str, dict] = {}  # by the params key that would give the size
    for m in sorted(models.values(), key=lambda m: m["location"]):
        if m["size_b"] is None:
            u = unknown.setdefault(m["size_key"], {"key": m["size_key"], "models": [], "loads": 0, "gpu_loads": 0})
            u["models"].append(m["location"])
            u["loads"] += m["loads"]
            u["gpu_loads"] += m["gpu_loads"]
    unknown = [unknown[k] for k in sorted(unknown, key=str)]
    return {
        "assumptions": {**assumptions, "bytes_per_param": bytes_per},
        "total": _finish(total),
        "phases": {k: _finish(v) for k, v in sorted(phases.items())},
        "models": sorted((_rounded(m) for m in models.values()), key=lambda m: (-m["gpu_hours"], m["location"])),
        "unknown_sizes": unknown,
        "batches": batches,
    }


def git_version(root: Path) -> dict:
    """The checkout's commit, and whether the code differs from it (None outside a git checkout)."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)

    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return {"commit": None, "dirty": None}
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


# ------------------------------------------------------------------------------------ the graph
@contextmanager
def graph(root: Path, params, scale: str, targets: list[str] | None = None):
    """(graph, jobs): the planned graph of `targets` (default: every artifact of the scale,
    ws.lineage_inputs, which the lineage rule's `input:` is) and its jobs minus the report rules."""
    from expanse import graph as g
    from expanse import workflow_support as ws

    with g.load(root, list(targets) if targets is not None else ws.lineage_inputs(params, scale)) as planned:
        yield planned, [j for j in planned.jobs if j.rule not in REPORT_RULES]


def _params(root: Path):
    from expanse.config import load_params

    return load_params(root / "params.yaml")


def _family_of(params) -> dict[str, str]:
    return {lang: cfg.family for lang, cfg in params.languages.items()}


def _basics(job, measured: dict | None) -> dict:
    """A job's rule, phase (its rule file), wildcards and cost (GPUs and runtime from its resources)."""
    res = job.resources
    return {
        "rule": job.rule,
        "phase": job.rule_file.stem,
        "wildcards": dict(job.wildcards),
        "cost": job_cost(measured, gpus=int(res.get("gpu", 0) or 0), runtime_min=res.get("runtime")),
    }


def describe(job, graph, root: Path, hasher) -> dict:
    """A job's lineage entry: what made its outputs (rule, params and the params.yaml keys they read,
    hashed inputs, models, code) and what it cost (its benchmark file)."""
    from expanse.dvc_pipeline import CODE_PARAM, _rel, job_code, job_params

    params = _jsonable({k: v for k, v in job.params().items() if k != CODE_PARAM})
    code = job_code(job)
    inputs = [_rel(f, root) for f in job.input_paths]
    script = _rel(job.script, root) if job.script else None
    return {
        **_basics(
            job, read_benchmark(root / job.benchmark, root / job.log[0] if job.log else None) if job.benchmark else None
        ),
        "params": params,
        "params_keys": job_params(job, graph).minimal(graph.config),
        "inputs": {f: hasher(root / f) for f in inputs},
        "outputs": {f: hasher(root / f) for f in (_rel(o, root) for o in job.output_paths)},
        "models": models_of(
            params,
            lambda p: hasher(root / p),
            inputs=[(n, root / _rel(f, root)) for n, f in job.inputs],
            root=root,
        ),
        "code": {
            "script": script,
            "script_sha256": hasher(root / script) if script else None,
            "rule_file": _rel(job.rule_file, root),
            "rule_file_sha256": hasher(job.rule_file),
            "fingerprint": code.sha256 if code else None,
            "modules": list(code.modules) if code else [],
        },
        "benchmark": _rel(job.benchmark, root) if job.benchmark else None,
    }


def collect(root: Path, scale: str, cache: Path | None = None, targets: list[str] | None = None) -> dict:
    """The lineage of `targets` (default: every artifact of the scale) and of every job they need."""
    from expanse.graph import snakemake_version

    root = root.resolve()
    params = _params(root)
    hasher = Hasher(cache)
    with graph(root, params, scale, targets) as (planned, jobs):
        described = {j.name: describe(j, planned, root, hasher) for j in jobs}
    hasher.save()
    family_of = _family_of(params)
    artifacts = {
        path: {"job": name, "sha256": digest}
        for name, j in sorted(described.items())
        for path, digest in j["outputs"].items()
    }
    return {
        "scale": scale,
        "code": {**git_version(root), "snakemake": snakemake_version()},
        "n_jobs": len(described),
        "n_artifacts": len(artifacts),
        "summary": summarize(described, family_of),
        "artifacts": dict(sorted(artifacts.items())),
        "jobs": dict(sorted(described.items())),
    }


def _model_outputs(jobs) -> set:
    """The models the graph builds: its rules' directory outputs named in MODEL_OUTPUTS."""
    return {path for job in jobs for name, path, is_dir in job.outputs if name in MODEL_OUTPUTS and is_dir}


def plan(root: Path, scale: str) -> dict:
    """Planned cost before anything runs: per phase, jobs and GPU-hours from the resources table; the
    models each job loads and what loading them costs (plan_loads)."""
    from expanse.dvc_pipeline import CODE_PARAM, _rel

    root = root.resolve()
    params = _params(root)
    with graph(root, params, scale) as (planned, jobs):
        names = {j.name for j in jobs}
        built = {_rel(f, root) for f in _model_outputs(jobs)}
        described = {}
        for job in jobs:
            entry = _basics(job, None)
            job_params = _jsonable({k: v for k, v in job.params().items() if k != CODE_PARAM})
            models = job_models(job_params, [(n, _rel(f, root)) for n, f in job.inputs], built.__contains__)
            training = job_params.get("training")
            training = training if isinstance(training, dict) else None
            entry["loads"] = [{"role": m["role"], "location": m["location"]} for m in model_loads(models, training)]
            # a job that writes a model (training, a merge) changes or combines the weights it loaded
            entry["batchable"] = not any(_rel(f, root) in built for f in job.output_paths)
            entry["after"] = sorted(d.name for d in planned.dependencies(job) if d.name in names)
            described[job.name] = entry
    summary = summarize(described, _family_of(params))
    summary["top_jobs"] = sorted(
        (
            {
                "job": n,
                "rule": j["rule"],
                "gpus": j["cost"]["gpus"],
                "planned_gpu_hours": j["cost"]["planned_gpu_hours"],
            }
            for n, j in described.items()
        ),
        key=lambda r: (-(r["planned_gpu_hours"] or 0), r["job"]),
    )[:TOP_JOBS]
    loads = plan_loads(
        described, model_sizes(params, scale, sorted(built)), params.scales[scale].model_load.model_dump()
    )
    return {"scale": scale, "n_jobs": len(described), "summary": summary, "model_loads": loads}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def format_plan(result: dict) -> str:
    """The plan's GPU-hours per phase as the text `python -m expanse.lineage plan` prints."""
    s = result["summary"]
    lines = [
        f"planned GPU-hours for scale {result['scale']} ({result['n_jobs']} jobs; runtime x GPUs from "
        f"scales.{result['scale']}.resources, an upper bound)",
        "",
        f"{'phase':14s} {'jobs':>6s} {'GPU-hours':>12s}",
    ]
    for phase, t in sorted(s["phases"].items(), key=lambda kv: -kv[1]["planned_gpu_hours"]):
        lines.append(f"{phase:14s} {t['jobs']:6d} {t['planned_gpu_hours']:12.1f}")
    lines.append(f"{'total':14s} {s['total']['jobs']:6d} {s['total']['planned_gpu_hours']:12.1f}")
    lines += ["", f"{'family':24s} {'GPU-hours':>12s}"]
    lines += [f"{f:24s} {t['planned_gpu_hours']:12.1f}" for f, t in s["families"].items()]
    lines += ["", "largest jobs:"]
    lines += [f"  {r['job']:40s} {r['gpus']:3d} GPUs {r['planned_gpu_hours']:10.1f} GPU-h" for r in s["top_jobs"]]
    if "model_loads" in result:
        lines += ["", *format_loads(result["model_loads"], result["scale"])]
    return "\n".join(lines)


def format_loads(m: dict, scale: str) -> list[str]:
    """The model-load hours of a plan, per phase, with what batching jobs per model would save, as text lines."""
    a, t = m["assumptions"], m["total"]
    lines = [
        f"model loads: {t['loads']} in {t['jobs']} jobs, {t['gpu_hours']:.1f} GPU-hours loading "
        f"({_pct(t['share'])} of the planned {t['planned_gpu_hours']:.1f})",
        f"  a job holds its GPUs for {a['startup_s']:g} s of start-up (process, CUDA, engine) plus each "
        f"model's weights (size_b x {a['bytes_per_param']} bytes, {a['weights_dtype']}) read at "
        f"{a['read_gb_per_s']:g} GB/s (scales.{scale}.model_load)",
        "",
        f"{'phase':14s} {'loads':>6s} {'load GPU-h':>11s} {'of planned':>10s} {'batched loads':>14s} "
        f"{'GPU-h saved':>12s}",
    ]
    rows = sorted(((p, v) for p, v in m["phases"].items() if v["loads"]), key=lambda kv: -kv[1]["gpu_hours"])
    for phase, v in [*rows, ("total", t)]:
        lines.append(
            f"{phase:14s} {v['loads']:6d} {v['gpu_hours']:11.1f} {_pct(v['share']):>10s} "
            f"{v['batched_loads']:14d} {v['gpu_hours_saved']:12.1f}"
        )
    lines += [
        "",
        f"batching: one process for the jobs of a rule that load the same models on the same GPUs (as "
        f"many as a chain of them that depend on each other needs; jobs that write a model keep their "
        f"own): "
        f"{t['loads']} -> {t['batched_loads']} loads, {t['loads_avoided']} avoided, "
        f"{t['gpu_hours_saved']:.1f} GPU-hours saved "
        f"({_pct(t['gpu_hours_saved'] / t['planned_gpu_hours'] if t['planned_gpu_hours'] else None)} "
        "of planned)",
        "largest savings:",
    ]
    for b in m["batches"][:TOP_BATCHES]:
        if b["loads"] == b["batched_loads"]:
            break
        lines.append(
            f"  {b['rule']:18s} {' + '.join(b['models']):42s} {b['gpus']:3d} GPUs {b['jobs']:4d} jobs -> "
            f"{b['processes']:2d} process{'es' if b['processes'] > 1 else '  '} "
            f"{b['gpu_hours_saved']:8.1f} GPU-h saved"
        )
    unknown = m["unknown_sizes"]
    lines.append(
        "models of unknown size: "
        + (
            "none"
            if not unknown
            else "; ".join(
                f"set {u['key']} ({len(u['models'])} model{'s' if len(u['models']) > 1 else ''}: {u['loads']} loads, "
                f"{u['gpu_loads']} on GPUs)"
                for u in unknown
            )
        )
    )
    if t["unknown_jobs"]:
        lines.append(f"  {t['unknown_jobs']} GPU jobs load a model of unknown size; their load hours are not counted")
    return lines


def main(argv=None) -> int:
    """`python -m expanse.lineage plan|write --scale S`: planned GPU-hours, or a built scale's lineage as JSON."""
    ap = argparse.ArgumentParser(prog="python -m expanse.lineage", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser(
        "plan",
        help="planned GPU-hours of a scale from its resources table, and the GPU-hours "
        "its jobs spend loading models (nothing runs)",
    )
    p.add_argument("--scale", required=True)
    p.add_argument("--json", type=Path, help="also write the plan as JSON here")
    w = sub.add_parser("write", help="lineage and cost of a built scale, as JSON")
    w.add_argument("--scale", required=True)
    w.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    root = Path.cwd()
    params = _params(root)
    if args.scale not in params.scales:
        print(f"error: params.yaml: scales has no {args.scale!r} (known: {', '.join(params.scales)})", file=sys.stderr)
        return 2
    if args.cmd == "plan":
        result = plan(root, args.scale)
        print(format_plan(result))
        if args.json:
            write_json(result, args.json)
    else:
        write_json(collect(root, args.scale, cache=hash_cache(root, args.scale)), args.out)
    return 0


def hash_cache(root: Path, scale: str) -> Path:
    """Where the lineage of `scale` caches file hashes by size, mtime and inode."""
    return root / ".expanse" / f"hashes-{scale}.json"


if __name__ == "__main__":
    sys.exit(main())
