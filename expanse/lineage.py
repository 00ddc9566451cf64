"""Lineage and cost of every artifact of a scale.

For each job of the scale's graph: the rule and the parameter values that made it (and the
params.yaml keys they come from), its inputs and outputs with content hashes, the models it loaded
(hub ID and revision, or a local checkpoint with its hash), the code (git commit of the checkout,
the script's and rule file's hashes, the project modules the script imports and the fingerprint
over both that reruns the job when one changes) and what it cost: wall time, CPU time and peak
memory from its Snakemake `benchmark:` file, GPU-hours = wall time x GPUs requested, and the
planned GPU-hours from the resources table (runtime x GPUs, an upper bound). Summaries: per phase (the
rule file), per family, per language, and the most expensive jobs.

    python -m expanse.lineage plan --scale 32b        # planned GPU-hours before anything runs
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
from pathlib import Path

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


def read_benchmark(path: str | Path) -> dict | None:
    """Wall seconds, CPU seconds and peak RSS (MB) from a Snakemake benchmark TSV (first row)."""
    p = Path(path)
    if not p.is_file():
        return None
    with p.open(newline="") as f:
        row = next(csv.DictReader(f, delimiter="\t"), None)
    if row is None:
        return None
    return {"wall_s": _number(row.get("s")), "cpu_s": _number(row.get("cpu_time")),
            "max_rss_mb": _number(row.get("max_rss"))}


def job_cost(measured: dict | None, *, gpus: int, runtime_min: float | None) -> dict:
    """GPU-hours = wall time x GPUs requested; planned = the resources' runtime x GPUs."""
    cost = {"measured": measured is not None, "wall_s": None, "cpu_s": None, "max_rss_mb": None,
            "gpus": gpus, "gpu_hours": None,
            "planned_gpu_hours": round(runtime_min / 60 * gpus, 6) if runtime_min is not None else None}
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
    return {"jobs": 0, "measured_jobs": 0, "wall_h": 0.0, "cpu_h": 0.0, "gpu_hours": 0.0, "planned_gpu_hours": 0.0,
            "max_rss_mb": 0.0}


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
    ranked = sorted(jobs.items(), key=lambda kv: (-(kv[1]["cost"]["gpu_hours"] or 0), -(kv[1]["cost"]["wall_s"] or 0),
                                                  kv[0]))
    return {"total": _rounded(total),
            "phases": {k: _rounded(v) for k, v in phases.items()},
            "families": {k: _rounded(v) for k, v in sorted(families.items())},
            "languages": {k: _rounded(v) for k, v in sorted(languages.items())},
            "top_jobs": [{"job": name, "rule": j["rule"], **{k: j["cost"][k] for k in
                          ("wall_s", "cpu_s", "max_rss_mb", "gpus", "gpu_hours", "planned_gpu_hours")}}
                         for name, j in ranked[:top]]}


# ------------------------------------------------------------------------------------ models and code
def models_of(params: dict, hasher, inputs=(), root: Path | None = None) -> list[dict]:
    """The models a job loads, from its resolved model references ({location, load}): a hub ID
    with its revision, or a local checkpoint with its content hash; and the checkpoints among its
    inputs (directories with a config.json) that no reference names (a training job's start)."""
    out = []
    for role, value in params.items():
        if not (isinstance(value, dict) and "location" in value and "load" in value):
            continue
        location, load = str(value["location"]), value["load"] or {}
        if Path(location).exists() or location.startswith("results/"):
            out.append({"role": role, "path": location, "sha256": hasher(location)})
        else:
            out.append({"role": role, "hf": location, "revision": load.get("revision") or "main (unpinned)",
                        "trust_remote_code": bool(load.get("trust_remote_code"))})
    named = {m.get("path") for m in out}
    for path in inputs:
        rel = Path(path).relative_to(root).as_posix() if root is not None else str(path)
        if rel not in named and Path(path).is_dir() and (Path(path) / "config.json").is_file():
            out.append({"role": "input", "path": rel, "sha256": hasher(rel)})
    return out


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
def graph(root: Path, params, scale: str):
    """(api, workflow, jobs) of every artifact of the scale (ws.lineage_inputs), minus the report rules."""
    from expanse import workflow_support as ws
    from expanse.dvc_pipeline import load_jobs

    api, wf, jobs = load_jobs(root, ws.lineage_inputs(params, scale))
    return api, wf, [j for j in jobs if j.rule.name not in REPORT_RULES]


def _params(root: Path):
    from expanse.config import load_params

    return load_params(root / "params.yaml")


def _family_of(params) -> dict[str, str]:
    return {lang: cfg.family for lang, cfg in params.languages.items()}


def _basics(job, measured: dict | None) -> dict:
    """A job's rule, phase (its rule file), wildcards and cost (GPUs and runtime from its resources)."""
    res = dict(job.resources.items())
    return {"rule": job.rule.name, "phase": Path(job.rule.snakefile).stem,
            "wildcards": {k: str(v) for k, v in job.wildcards_dict.items()},
            "cost": job_cost(measured, gpus=int(res.get("gpu", 0) or 0), runtime_min=res.get("runtime"))}


def describe(job, wf, root: Path, hasher) -> dict:
    from expanse.dvc_pipeline import CODE_PARAM, _rel, job_code, job_params

    rule = job.rule
    params = _jsonable({k: v for k, v in job.params.items() if k != CODE_PARAM})
    code = job_code(job)
    inputs = [_rel(f, root) for f in job.input]
    script = _rel((Path(rule.snakefile).parent / rule.script).resolve(), root) if rule.script else None
    return {
        **_basics(job, read_benchmark(root / job.benchmark) if job.benchmark else None),
        "params": params,
        "params_keys": job_params(job, wf).minimal(wf.config),
        "inputs": {f: hasher(root / f) for f in inputs},
        "outputs": {f: hasher(root / f) for f in (_rel(o, root) for o in job.output)},
        "models": models_of(params, lambda p: hasher(root / p), inputs=[root / f for f in inputs], root=root),
        "code": {"script": script, "script_sha256": hasher(root / script) if script else None,
                 "rule_file": _rel(rule.snakefile, root), "rule_file_sha256": hasher(Path(rule.snakefile)),
                 "fingerprint": code.sha256 if code else None, "modules": list(code.modules) if code else []},
        "benchmark": _rel(job.benchmark, root) if job.benchmark else None,
    }


def collect(root: Path, scale: str, cache: Path | None = None) -> dict:
    from expanse.dvc_pipeline import stage_name

    root = root.resolve()
    params = _params(root)
    hasher = Hasher(cache)
    api, wf, jobs = graph(root, params, scale)
    try:
        described = {stage_name(j): describe(j, wf, root, hasher) for j in jobs}
    finally:
        api.__exit__(None, None, None)
    hasher.save()
    family_of = _family_of(params)
    artifacts = {path: {"job": name, "sha256": digest} for name, j in sorted(described.items())
                 for path, digest in j["outputs"].items()}
    import snakemake

    return {"scale": scale, "code": {**git_version(root), "snakemake": snakemake.__version__},
            "n_jobs": len(described), "n_artifacts": len(artifacts),
            "summary": summarize(described, family_of), "artifacts": dict(sorted(artifacts.items())),
            "jobs": dict(sorted(described.items()))}


def plan(root: Path, scale: str) -> dict:
    """Planned cost before anything runs: per phase, jobs and GPU-hours from the resources table."""
    from expanse.dvc_pipeline import stage_name

    root = root.resolve()
    params = _params(root)
    api, wf, jobs = graph(root, params, scale)
    try:
        described = {stage_name(j): _basics(j, None) for j in jobs}
    finally:
        api.__exit__(None, None, None)
    summary = summarize(described, _family_of(params))
    summary["top_jobs"] = sorted(({"job": n, "rule": j["rule"], "gpus": j["cost"]["gpus"],
                                   "planned_gpu_hours": j["cost"]["planned_gpu_hours"]} for n, j in described.items()),
                                 key=lambda r: (-(r["planned_gpu_hours"] or 0), r["job"]))[:TOP_JOBS]
    return {"scale": scale, "n_jobs": len(described), "summary": summary}


def format_plan(result: dict) -> str:
    s = result["summary"]
    lines = [f"planned GPU-hours for scale {result['scale']} ({result['n_jobs']} jobs; runtime x GPUs from "
             f"scales.{result['scale']}.resources, an upper bound)", "",
             f"{'phase':14s} {'jobs':>6s} {'GPU-hours':>12s}"]
    for phase, t in sorted(s["phases"].items(), key=lambda kv: -kv[1]["planned_gpu_hours"]):
        lines.append(f"{phase:14s} {t['jobs']:6d} {t['planned_gpu_hours']:12.1f}")
    lines.append(f"{'total':14s} {s['total']['jobs']:6d} {s['total']['planned_gpu_hours']:12.1f}")
    lines += ["", f"{'family':24s} {'GPU-hours':>12s}"]
    lines += [f"{f:24s} {t['planned_gpu_hours']:12.1f}" for f, t in s["families"].items()]
    lines += ["", "largest jobs:"]
    lines += [f"  {r['job']:40s} {r['gpus']:3d} GPUs {r['planned_gpu_hours']:10.1f} GPU-h" for r in s["top_jobs"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m expanse.lineage", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan", help="planned GPU-hours of a scale from its resources table (nothing runs)")
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
    return root / ".expanse" / f"hashes-{scale}.json"


if __name__ == "__main__":
    sys.exit(main())
