"""DVC over the Snakemake graph: the generated pipelines are in sync with the job graph (a stage per
language and phase, per family and phase, or per job), their params are the keys their jobs read,
DVC and Snakemake agree on what an edit reruns, only the tiny pipeline is visible to plain DVC
commands, and the documented commands (record after a Snakemake run, sync after a DVC checkout)
keep them agreeing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from shrink import REPO, copy_repo
from smk import params_of, planned_jobs, write_params

from expanse.dvc_pipeline import group_name_of, pipeline_files, pipelines, scales_of, stage_path
from expanse.dvc_repro import links

pytestmark = pytest.mark.workflow
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONHASHSEED": "0"}


def run(root: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), cwd=root, capture_output=True, text=True, env=ENV)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def dvc(root: Path, *args: str, check: bool = True):
    return run(root, sys.executable, "-m", "dvc", *args, check=check)


def pipeline(root: Path, *args: str, check: bool = True):
    return run(root, sys.executable, "-m", "expanse.dvc_pipeline", *args, check=check)


def stages_of(root: Path, scale: str = "tiny") -> dict:
    """Every stage of a scale's pipeline: its main file's and its stages' own files'."""
    return {
        name: st
        for path in pipeline_files(root, scale)
        for name, st in yaml.safe_load((root / path).read_text())["stages"].items()
    }


def stage_of(rule: str, wildcards: dict, params: dict) -> str:
    """The stage that runs a job planned by `snakemake -n` (its parsed wildcards, without the extras)."""
    families = {lang: cfg["family"] for lang, cfg in params["languages"].items()}
    return group_name_of(rule, {k: v for k, v in wildcards.items() if not k.startswith("_")}, families)


def planned_stages(root: Path, *args: str) -> set[str]:
    """The stages of the jobs `snakemake -n` plans."""
    params = params_of(root)
    return {stage_of(r, w, params) for r, w in planned_jobs(root, *args)}


def downstream(stages: dict, roots: set[str]) -> set[str]:
    """Stages that run when `roots` run: everything that depends on their outputs, transitively."""
    producer = {out: name for name, st in stages.items() for out in st["outs"]}
    users: dict[str, set[str]] = {}
    for name, st in stages.items():
        for dep in st["deps"]:
            if dep in producer:
                users.setdefault(producer[dep], set()).add(name)
    seen, todo = set(roots), list(roots)
    while todo:
        for user in users.get(todo.pop(), ()):
            if user not in seen:
                seen.add(user)
                todo.append(user)
    return seen


def changed_stages(root: Path) -> set[str]:
    out = dvc(root, "status", "--json").stdout  # plain: the tiny pipeline, every file of it
    return {name.split(":")[-1] for name in json.loads(out or "{}")}


# ---------------------------------------------------------------- generation (no build needed)
@pytest.fixture(scope="module")
def jobs() -> dict:
    """{job name: {stage, deps, outs, params}} of the tiny graph, as the generator sees each job."""
    return json.loads(pipeline(REPO, "jobs").stdout)


def test_generated_pipelines_are_in_sync_with_the_job_graph(jobs):
    proc = pipeline(REPO, "check", check=False)
    assert proc.returncode == 0, proc.stderr
    tiny = stages_of(REPO)
    code = tiny.pop("code")
    assert set(tiny) == planned_stages(REPO, "--forceall", "all") == {j["stage"] for j in jobs.values()}
    # the code stage fingerprints every job's entry; a job's code is one dep, its entry's code file
    entries = sorted(
        {
            d.removeprefix("results/tiny/code/").removesuffix(".json")
            for j in jobs.values()
            for d in j["deps"]
            if d.startswith("results/tiny/code/")
        }
    )
    assert code["cmd"] == "python -m expanse.fingerprint --scale tiny " + " ".join(entries)
    assert code["outs"] == [f"results/tiny/code/{e}.json" for e in entries]
    assert not any(d.startswith("expanse/") or d.startswith("scripts/") for j in jobs.values() for d in j["deps"])
    # a stage runs its jobs, all of them in one Snakemake process, and holds their outputs
    for name, st in tiny.items():
        members = [j for j in jobs.values() if j["stage"] == name]
        assert st["outs"] == [o for j in members for o in j["outs"]]
        # forked from the warm worker at tiny (no job asks for a GPU); plain Snakemake at 8b/32b
        assert st["cmd"].startswith("python -m expanse.worker snakemake --cores all --force --allowed-rules ")
        assert st["cmd"].endswith(" -- " + " ".join(st["outs"]))
    assert sorted(n for n, j in jobs.items() if j["stage"] == "arbitrage-fr") == [
        "generate_teacher-fr-asia",
        "generate_teacher-fr-east",
        "generate_teacher-fr-euro",
        "prepare_prompts-fr",
        "score_arbiter-fr-asia",
        "score_arbiter-fr-east",
        "score_arbiter-fr-euro",
        "select_arbitrage-fr",
    ]
    assert {j["stage"] for n, j in jobs.items() if n.startswith(("build_pairs-", "train_dpo-"))} == {
        f"dpo-{f}" for f in params_of(REPO)["families"]
    }
    for scale in scales_of(REPO)[1:]:
        st = stages_of(REPO, scale)
        assert all(all(o.startswith(f"results/{scale}/") for o in s["outs"]) for s in st.values())
    assert all(o.startswith("results/tiny/") for s in tiny.values() for o in s["outs"])
    # the main file holds the code stage and the stages no stage reads (plain `dvc repro` of it
    # builds everything); every other stage a file (and lock) of its own, named after it, every
    # stage running at the root
    for scale in scales_of(REPO):
        main, *others = pipeline_files(REPO, scale)
        assert main == ("dvc.yaml" if scale == "tiny" else f"pipelines/{scale}/dvc.yaml")
        every = stages_of(REPO, scale)
        upstream, _ = links(every)
        read = set().union(*upstream.values())
        main_stages = yaml.safe_load((REPO / main).read_text())["stages"]
        assert set(main_stages) == {"code"} | (set(every) - read), scale
        assert "report" in main_stages and "merge_families" in read
        assert len(others) == len(every) - len(main_stages)
        for path in pipeline_files(REPO, scale):
            wdir = None if path == "dvc.yaml" else "/".join([".."] * (path.count("/")))
            stages = yaml.safe_load((REPO / path).read_text())["stages"]
            assert all(st.get("wdir") == wdir for st in stages.values()), path
            if path != main:
                (name,) = stages
                assert path == stage_path(scale, name)
    assert stage_path("tiny", "arbitrage-fr") == "pipelines/tiny/arbitrage/fr/dvc.yaml"
    assert stage_path("tiny", "online-romance-2") == "pipelines/tiny/online/romance-2/dvc.yaml"
    assert stage_path("tiny", "eval") == "pipelines/tiny/eval/dvc.yaml"
    assert all(
        st["cmd"].startswith("snakemake --cores all --force ")
        for st in stages_of(REPO, "8b").values()
        if "--allowed-rules" in st["cmd"]
    )
    assert "code" in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def test_a_stage_depends_on_exactly_the_params_keys_its_jobs_read(shipped_params, jobs):
    job = jobs["prepare_prompts-fr"]
    assert job["params"] == ["languages.fr", "scales.tiny.prompts", "seed"]
    assert job["deps"] == [
        "data/prompts/fr.jsonl",
        "data/eval/prompts/fr.jsonl",
        "results/tiny/code/scripts/prepare_prompts.py.json",
        "rules/prompts.smk",
        "envs/data.yaml",
    ]
    tiny = stages_of(REPO)
    assert "params" not in tiny.pop("code")
    # a stage's params: its jobs' keys, those a read parent covers dropped; its deps: its jobs' deps
    # but the outputs of its own jobs
    for name, st in tiny.items():
        members = [j for j in jobs.values() if j["stage"] == name]
        keys = [p for p in st.get("params", []) if isinstance(p, str)]
        wanted = {k for j in members for k in j["params"]}
        assert set(keys) == {k for k in wanted if not any(k.startswith(q + ".") for q in wanted)}, name
        own = {o for j in members for o in j["outs"]}
        wanted_deps = list(dict.fromkeys(d for j in members for d in j["deps"] if d not in own))
        folders = [d for d in st["deps"] if d not in wanted_deps]  # a folder of source files stands for them
        assert all((REPO / f).is_dir() and not f.startswith("results/") for f in folders), name
        expanded = [d for d in st["deps"] if d not in folders]
        for f in folders:
            inside = [d for d in wanted_deps if d.rpartition("/")[0] == f]
            # every file DVC sees there (.dvcignore leaves out the data READMEs), and no other
            assert sorted(inside) == sorted(f"{f}/{p.name}" for p in (REPO / f).iterdir() if p.name != "README.md"), (
                name
            )
            expanded += inside
        assert sorted(expanded) == sorted(wanted_deps), name
    readers_of_fr = {
        n
        for n, s in tiny.items()
        if any(p == "languages.fr" or p.startswith("languages.fr.") for p in s.get("params", []) if isinstance(p, str))
    }
    # fr's own arbitrage stage reads its entry; the rest read only its family (membership)
    assert "arbitrage-fr" in readers_of_fr
    assert all(n == "arbitrage-fr" or tiny[n]["params"].count("languages.fr.family") for n in readers_of_fr)
    assert not any(p.startswith("languages.es") for p in tiny["arbitrage-fr"]["params"] if isinstance(p, str))
    assert {"data/eval/lm_eval", "data/eval/mgsm", "data/eval/mmlu"} <= set(tiny["benchmarks-merged"]["deps"])
    assert "scales.tiny.sft" in tiny["sft-romance"]["params"]
    assert "scales.tiny.dpo" not in tiny["sft-romance"]["params"]
    assert {f"families.{f}" for f in shipped_params["families"]} <= {
        p for p in tiny["merge_families"]["params"] if isinstance(p, str)
    }
    gen = jobs["generate_teacher-fr-euro"]["params"]
    assert "scales.tiny.teachers.euro" in gen and not any("teachers.east" in p for p in gen)
    # every key exists in params.yaml (DVC refuses a stage whose param is missing)
    for scale in pipelines(REPO):
        for name, st in stages_of(REPO, scale).items():
            for key in (p for p in st.get("params", []) if isinstance(p, str)):
                node = shipped_params
                for part in key.split("."):
                    assert isinstance(node, dict) and part in node, f"{scale}: {name}: {key} is not in params.yaml"
                    node = node[part]


def test_removing_a_language_makes_the_pipelines_stale_and_regenerating_prunes_dvc_lock(tmp_path, shipped_params):
    params = json.loads(json.dumps(shipped_params))
    del params["languages"]["vi"]
    root = copy_repo(tmp_path / "repo", params)
    proc = pipeline(root, "check", check=False)
    assert proc.returncode == 1
    assert "dvc.yaml: stale; regenerate with `python -m expanse.dvc_pipeline`" in proc.stderr
    assert "pipelines/keys.yaml: stale" in proc.stderr
    # a dvc.lock (as DVC writes it) from a run before vi was removed, and before the arbitrage
    # stages had their own files: regenerating drops vi's entry and moves fr's to its stage's lock
    from dvc.utils.serialize import dumps_yaml

    def entry(lang, md5):
        st = stages_of(REPO)[f"arbitrage-{lang}"]
        return {
            "cmd": st["cmd"],
            "outs": [{"path": out, "hash": "md5", "md5": md5, "size": 1234} for out in st["outs"]],
        }

    for old in root.rglob("dvc.lock"):
        old.unlink()
    lock = {"schema": "2.0", "stages": {"arbitrage-vi": entry("vi", "1" * 32), "arbitrage-fr": entry("fr", "0" * 32)}}
    (root / "dvc.lock").write_text(dumps_yaml(lock))
    out = pipeline(root, "generate", "--scale", "tiny").stdout
    assert "tiny: 1 dvc.lock entries moved to the lock of the stage's pipeline file" in out
    assert "dvc.lock: dropped 1 stages no longer in dvc.yaml (arbitrage-vi)" in out
    assert (root / "dvc.lock").read_text() == dumps_yaml({"schema": "2.0", "stages": {}})
    moved = {"schema": "2.0", "stages": {"arbitrage-fr": entry("fr", "0" * 32)}}
    assert (root / "pipelines/tiny/arbitrage/fr/dvc.lock").read_text() == dumps_yaml(moved)
    assert not (root / "pipelines/tiny/arbitrage/vi").exists()
    assert not any(n.endswith("-vi") or "-vi-" in n for n in stages_of(root))
    assert set(stages_of(REPO)) - set(stages_of(root)) == {
        n for n in stages_of(REPO) if n.endswith("-vi") or "-vi-" in n
    }
    # a pipeline file no longer generated is stale too, and regenerating removes it with its lock
    (root / "pipelines/tiny/old").mkdir()
    (root / "pipelines/tiny/old/dvc.yaml").write_text("stages: {}\n")
    (root / "pipelines/tiny/old/dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    proc = pipeline(root, "check", check=False)
    assert proc.returncode == 1 and "pipelines/tiny/old/dvc.yaml: no longer generated" in proc.stderr
    assert "pipelines/tiny/old/dvc.yaml: removed" in pipeline(root, "generate").stdout
    assert not (root / "pipelines/tiny/old").exists()
    assert pipeline(root, "check", check=False).returncode == 0


def test_plain_dvc_commands_see_only_the_tiny_pipeline():
    """.dvcignore hides the 8b and 32b pipelines (built on a cluster) from plain DVC commands; the
    `dvc SCALE` command runs DVC with one of them visible."""
    listed = {line.split()[0].split(":")[-1] for line in dvc(REPO, "stage", "list", "--all").stdout.splitlines()}
    assert listed == set(stages_of(REPO))  # the root dvc.yaml and the tiny stages' own files
    for path in ("pipelines/32b/dvc.yaml", "pipelines/32b/arbitrage/fr/dvc.yaml"):
        hidden = dvc(REPO, "stage", "list", path, check=False)
        assert hidden.returncode != 0 and "is dvc-ignored" in hidden.stderr
    shown = pipeline(REPO, "dvc", "32b", "stage", "list", "-R", "pipelines/32b").stdout
    assert {line.split()[0].split(":")[-1] for line in shown.splitlines()} == set(stages_of(REPO, "32b"))
    both = {
        line.split()[0].split(":")[0]
        for line in pipeline(REPO, "dvc", "8b,32b", "stage", "list", "--all").stdout.splitlines()
    }
    assert {"pipelines/8b/dvc.yaml", "pipelines/32b/dvc.yaml"} <= both


# ---------------------------------------------------------------- on the built shrunk graph
def git(root: Path, *args: str):
    return run(root, "git", "-c", "user.name=expanse", "-c", "user.email=expanse@localhost", *args)


@pytest.fixture(scope="module")
def recorded(built, tmp_path_factory):
    """The built graph as a git + DVC repo: pipelines generated for its params, its outputs
    recorded in dvc.lock by the documented command, everything committed."""
    root = tmp_path_factory.mktemp("dvc") / "repo"
    shutil.copytree(built, root, symlinks=True)
    git(root, "init", "-q")
    pipeline(root)
    out = pipeline(root, "record").stdout
    assert "recorded in dvc.lock and pipelines/tiny/**/dvc.lock" in out
    git(root, "add", "-A")
    git(root, "commit", "-qm", "built and recorded")
    return root


@pytest.fixture
def repo(recorded, tmp_path):
    dest = tmp_path / "repo"
    shutil.copytree(recorded, dest, symlinks=True)
    return dest


def test_after_record_both_tools_see_nothing_to_do(repo, recorded):
    assert "Data and pipelines are up to date" in dvc(repo, "status").stdout
    assert "Nothing to be done" in run(repo, sys.executable, "-m", "snakemake", "-n", "all").stdout
    # each pipeline file's lock records exactly its stages
    for path in pipeline_files(repo, "tiny"):
        lock = yaml.safe_load((repo / path).with_name("dvc.lock").read_text())["stages"]
        assert set(lock) == set(yaml.safe_load((repo / path).read_text())["stages"]), path
    # checkpoints are directory outputs, stored once (hardlinks: the workspace file is the cache
    # object; `repo` is a copy, so look at the recorded original)
    weights = recorded / "results/tiny/checkpoints/romance/sft/model.safetensors"
    assert weights.stat().st_nlink == 2


def test_editing_one_languages_prompts_reruns_the_same_jobs_in_dvc_and_snakemake(repo):
    path = repo / "data/prompts/fr.jsonl"
    last = json.loads(path.read_text(encoding="utf-8").splitlines()[-1])
    with path.open("a", encoding="utf-8") as f:
        f.write(
            json.dumps(
                {**last, "id": last["id"] + "b", "prompt": "Explique pourquoi le ciel est bleu le jour."},
                ensure_ascii=False,
            )
            + "\n"
        )
    snakemake_plan = planned_stages(repo, "all")
    roots = changed_stages(repo)
    assert roots == {"arbitrage-fr"}
    assert downstream(stages_of(repo), roots) == snakemake_plan
    # fr's chain, its family's chain, the merge and the eval; no other language's arbitrage
    assert {"arbitrage-fr", "sft-romance", "online-romance-2", "merge_families", "report"} <= snakemake_plan
    assert not any(n.startswith(("arbitrage-es", "sft-asian", "dpo-asian")) for n in snakemake_plan)
    # the test prompts come from the eval files alone: only the retrained models answer them again
    family = params_of(repo)["languages"]["fr"]["family"]
    assert {n for n in snakemake_plan if n.startswith("answers-")} == {"answers-merged", f"answers-family_{family}"}
    # `dvc_pipeline repro` would run those stages, each after the stages it reads from
    planned = pipeline(repo, "repro", "--dry").stdout.split()
    assert set(planned) == snakemake_plan and len(planned) == len(snakemake_plan)
    stages = stages_of(repo)
    for i, name in enumerate(planned):
        assert not downstream(stages, {name}) & set(planned[:i]), f"{name} planned after a stage that reads it"


def test_editing_a_library_module_reruns_the_same_jobs_in_dvc_and_snakemake(repo):
    """The code a job runs is its script and the project modules it imports: an edit to one reruns
    the jobs that import it and what they feed, in both tools."""
    with (repo / "expanse/pairs.py").open("a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    snakemake_plan = planned_stages(repo, "all")
    # DVC sees the code stage changed (the module is its dep); once it has run, the stages whose
    # code file changed: those of the jobs importing the module
    assert changed_stages(repo) == {"code"}
    out = dvc(repo, "repro", "--single-item", "code").stdout
    assert "Running stage 'code'" in out
    roots = changed_stages(repo)
    assert roots == {n for n in stages_of(repo) if n.startswith(("dpo-", "online-"))}  # build_pairs, build_online_pairs
    assert downstream(stages_of(repo), roots) == snakemake_plan
    assert not any(n.startswith(("arbitrage-", "sft-")) for n in snakemake_plan)
    code_files = [o for o in stages_of(repo)["code"]["outs"] if "expanse/pairs.py" in (repo / o).read_text()]
    assert code_files == [
        "results/tiny/code/scripts/build_online_pairs.py.json",
        "results/tiny/code/scripts/build_pairs.py.json",
    ]


def test_a_benchmark_item_edit_reruns_the_benchmarks_and_a_readme_edit_nothing(repo):
    """The benchmark stages depend on the item folders (every file DVC sees there: .dvcignore
    leaves the READMEs out), as their jobs depend on every file in them."""
    with (repo / "data/eval/mgsm/README.md").open("a", encoding="utf-8") as f:
        f.write("\nedited\n")
    assert changed_stages(repo) == set()
    with (repo / "data/eval/mgsm/fr.jsonl").open("a", encoding="utf-8") as f:
        f.write("\n")
    roots = changed_stages(repo)
    assert roots == {n for n in stages_of(repo) if n.startswith("benchmarks-")} and roots
    assert planned_stages(repo, "all") - {"report"} == roots


def test_a_params_edit_reruns_the_same_jobs_and_dvc_repro_keeps_them_agreeing(repo):
    params = params_of(repo)
    # every comparison becomes a tie: the judge's output surely changes (a bootstrap count may not
    # move a 12-prompt interval, and DVC, which compares contents, then rightly reruns nothing below)
    params["scales"]["tiny"]["eval"]["judge"]["tie_margin"] = 1000.0
    write_params(repo, params)
    winrates = (repo / "results/tiny/eval/winrates/fr.json").read_bytes()
    snakemake_plan = planned_stages(repo, "all")
    roots = changed_stages(repo)
    # judge_pairwise: one stage for every language's judge
    assert roots == {"eval"}
    assert downstream(stages_of(repo), roots) == snakemake_plan == roots | {"report"}
    # DVC runs it (through Snakemake); then both tools agree on what is left
    target = "pipelines/tiny/eval/dvc.yaml:eval"  # a stage of a file of its own, named with its path
    out = dvc(repo, "repro", "--single-item", target).stdout
    assert [line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")] == [target]
    assert (repo / "results/tiny/eval/winrates/fr.json").read_bytes() != winrates
    left = changed_stages(repo)
    assert left == {"report"}  # its judge inputs are new now (lineage and the report)
    assert planned_stages(repo, "all") == downstream(stages_of(repo), left) == snakemake_plan - {"eval"}


def test_stages_dvc_restores_from_its_run_cache_leave_snakemake_nothing_to_do(repo):
    """DVC checks a stage's outputs out of its run cache when it has built the same deps and params
    before (`record`'s dvc commit keeps the recorded runs there too) instead of running it: the
    outputs then carry the checkout's mtimes, and Snakemake's metadata the params of the jobs' last
    run, so `dvc_pipeline repro` brings Snakemake in line afterwards."""
    original = (repo / "params.yaml").read_bytes()
    params = params_of(repo)
    params["scales"]["tiny"]["eval"]["judge"]["tie_margin"] = 1000.0
    write_params(repo, params)
    first = pipeline(repo, "repro").stdout  # the judges run: a state DVC has not built
    assert "run cache" not in first and "stages reproduced" in first
    (repo / "params.yaml").write_bytes(original)  # back to the recorded params
    again = pipeline(repo, "repro").stdout
    restored = re.search(r"(\d+) stages restored from DVC's run cache: Snakemake is in line with DVC", again)
    assert restored and int(restored[1]) == 2, again  # eval (every judge) and report
    assert "Nothing to be done" in run(repo, sys.executable, "-m", "snakemake", "-n", "all").stdout
    assert "Data and pipelines are up to date" in dvc(repo, "status").stdout


def test_record_refuses_while_snakemake_has_work(repo):
    (repo / "data/prompts/es.jsonl").touch()
    params = params_of(repo)
    params["scales"]["tiny"]["pairs"]["min_margin"] += 0.1
    write_params(repo, params)
    proc = pipeline(repo, "record", check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("error: Snakemake still has jobs to run")
    assert not git(repo, "status", "--porcelain", "dvc.lock", "pipelines").stdout  # the locks untouched


@pytest.fixture
def s3_server():
    """moto's S3-compatible server on loopback (a random port), with an empty bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    ).create_bucket(Bucket="expanse-artifacts")
    old = {k: os.environ.get(k) for k in creds}
    ENV.update(creds)  # credentials from the environment only, never in .dvc/config
    yield url
    for k, v in old.items():
        ENV.pop(k) if v is None else ENV.update({k: v})
    server.stop()


def test_push_to_both_remotes_clone_pull_sync_and_import(repo, tmp_path, s3_server):
    """Push to the shipped default remote (../expanse-dvc-store, beside the checkout) and to S3
    (moto on loopback; credentials from the environment only); a fresh clone pulls from S3, is
    byte-identical, and after `sync` Snakemake has nothing to do; another project imports the
    merged checkpoint from the directory remote."""
    dvc(repo, "push")
    assert any((tmp_path / "expanse-dvc-store").rglob("*"))
    dvc(repo, "remote", "add", "s3", "s3://expanse-artifacts/dvcstore")
    dvc(repo, "remote", "modify", "s3", "endpointurl", s3_server)
    dvc(repo, "remote", "modify", "s3", "region", "us-east-1")
    assert "testing" not in (repo / ".dvc/config").read_text()
    dvc(repo, "push", "-r", "s3")
    git(repo, "commit", "-qam", "s3 remote")
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    assert not (clone / "results").exists()
    dvc(clone, "pull", "-r", "s3")
    assert "Data and pipelines are up to date" in dvc(clone, "status").stdout
    assert "nothing to be done" in pipeline(clone, "sync").stdout
    assert "Nothing to be done" in run(clone, sys.executable, "-m", "snakemake", "-n", "all").stdout
    files = sorted(
        p.relative_to(repo)
        for p in (repo / "results/tiny").rglob("*")
        if p.is_file() and p.name != ".snakemake_timestamp"
    )
    assert any(p.name.endswith(".safetensors") for p in files) and len(files) > 100
    for rel in files:
        assert (clone / rel).read_bytes() == (repo / rel).read_bytes(), rel

    # another project imports the merged checkpoint (the producer's committed config must name a
    # remote it can reach from anywhere: an absolute path here)
    dvc(repo, "remote", "modify", "local", "url", str(tmp_path / "expanse-dvc-store"))
    git(repo, "commit", "-qam", "absolute remote")
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    git(consumer, "init", "-q")
    dvc(consumer, "init", "-q")
    dvc(consumer, "import", f"file://{repo}", "results/tiny/merged", "-o", "merged")
    dvc_file = yaml.safe_load((consumer / "merged.dvc").read_text())
    assert dvc_file["deps"][0]["repo"]["rev_lock"] == git(repo, "rev-parse", "HEAD").stdout.strip()
    for p in (repo / "results/tiny/merged").rglob("*"):
        if p.is_file() and p.name != ".snakemake_timestamp":
            assert (consumer / "merged" / p.relative_to(repo / "results/tiny/merged")).read_bytes() == p.read_bytes()
