"""Against a real single-node SLURM cluster (slurm/cluster/up.sh: one node advertising 64 CPUs,
1.1 TB and 8 fake h100 GPUs; slurmdbd, so sacct works). Every job goes through the slurm executor
plugin with the project's own profile (slurm/config.yaml)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from shrink import copy_repo
from slurmtools import sacct, slurm_cluster  # noqa: F401 (fixture)
from smk import snakemake

FAST = ["--slurm-init-seconds-before-status-checks", "5", "--latency-wait", "5", "--jobs", "4"]


def snakemake_slurm(root: Path, *args: str, check: bool = True, timeout: int = 1500):
    """Snakemake through the slurm executor with the project's profile (status checks every 5 s)."""
    return snakemake(root, "--profile", "slurm", *args, *FAST, check=check, timeout=timeout)


def sbatch_calls(text: str) -> list[list[str]]:
    """The sbatch calls the executor logged (--verbose), as argv without the --wrap payload."""
    calls = []
    for line in text.splitlines():
        if "sbatch call:" in line:
            cmd = line.split("sbatch call:", 1)[1].strip()
            argv = shlex.split(cmd.split(" --wrap=", 1)[0]) if cmd.startswith("sbatch ") else []
            if argv and argv not in calls:  # the error report repeats the call
                calls.append(argv)
    return calls


@pytest.fixture(scope="module")
def probe_repo(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("slurm") / "repo")


def test_an_8_gpu_job_gets_exactly_what_it_asked_for(slurm_cluster, probe_repo):
    """8b SFT's class: 8 h100, 64 CPUs, 1 TB, 24 h on one node; SLURM must allocate exactly that."""
    snakemake_slurm(probe_repo, "-s", "tests/slurm/probe.smk", "probe/8b/sft.env")
    env = dict(line.split("=", 1) for line in (probe_repo / "probe/8b/sft.env").read_text().splitlines())
    assert env["CUDA_VISIBLE_DEVICES"].split(",") == [str(i) for i in range(8)]
    job = env["SLURM_JOB_ID"]
    for _ in range(20):  # slurmdbd fills Timelimit a moment after the job completes
        rows = [
            r
            for r in sacct(
                "JobID",
                "State",
                "AllocTRES",
                "Timelimit",
                "Comment",
                "Account",
                "Partition",
                since=slurm_cluster["since"],
                workdir=probe_repo,
            )
            if r["JobID"] == job
        ]
        if len(rows) == 1 and rows[0]["Timelimit"]:
            break
        time.sleep(0.5)
    assert len(rows) == 1, rows
    row = rows[0]
    tres = dict(kv.split("=", 1) for kv in row["AllocTRES"].split(","))
    assert (tres["gres/gpu"], tres["cpu"], tres["mem"], tres["node"]) == ("8", "64", "1000000M", "1"), row
    assert row["Timelimit"] == "1-00:00:00" and row["State"] == "COMPLETED", row
    assert (row["Account"], row["Partition"]) == (slurm_cluster["account"], "gpu") and row["Comment"].startswith(
        "rule_probe_sft"
    ), row
    shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, check=True).stdout
    assert re.search(r"TresPerJob=gres(/|:)gpu:h100:8", shown), shown
    assert "NumCPUs=64" in shown and "MinMemoryNode=1000000M" in shown and "TimeLimit=1-00:00:00" in shown


def test_a_two_node_job_is_submitted_as_two_nodes_of_8_gpus(slurm_cluster, probe_repo):
    """32b SFT's class: 2 nodes x 8 h100. One node cannot hold it, so sbatch refuses it; the call
    the executor built is the check."""
    proc = snakemake_slurm(
        probe_repo, "-s", "tests/slurm/probe.smk", "probe/32b/sft.env", "--verbose", check=False, timeout=300
    )
    assert proc.returncode != 0
    calls = sbatch_calls(proc.stdout + proc.stderr)
    assert len(calls) == 1, proc.stderr[-3000:]
    call = calls[0]
    assert {"--nodes=2", "--ntasks-per-node=8", "--cpus-per-task=8", "--gpus=h100:16"} <= set(call), call
    assert call[call.index("--mem") + 1] == "1000000" and call[call.index("-t") + 1] == "2880", call
    assert call[call.index("-A") + 1] == slurm_cluster["account"] and call[call.index("-p") + 1] == "gpu", call
    assert not any(a.startswith("--ntasks-per-gpu") or a.startswith("--ntasks=") for a in call), call
    assert "SLURM sbatch failed" in proc.stderr and "Batch job submission failed" in proc.stderr  # refused, not queued


def test_the_multi_node_launch_inside_a_job(slurm_cluster, probe_repo):
    """Inside the allocation: the rule runs outside the executor's job step (multi-node mode), finds
    the head node although the job step stripped SLURM_JOB_NODELIST, and srun starts one
    accelerate launcher per node with its rank from $SLURM_NODEID and the node's GPUs and CPUs."""
    from accelerate.commands.launch import launch_command_parser

    snakemake_slurm(probe_repo, "-s", "tests/slurm/probe.smk", "probe/launch/32b")
    out = probe_repo / "probe/launch/32b"
    records = [json.loads(p.read_text()) for p in sorted(out.glob("task*.json"))]
    assert len(records) == 1, records  # one launcher on the one node
    rec = records[0]
    node = subprocess.run(
        ["sinfo", "--noheader", "--format=%n"], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    logged = json.loads((probe_repo / "probe/launch/32b.log").read_text())
    assert logged["head"] == node and rec["host"].split(".")[0] == node
    assert logged["argv"][:2] == ["srun", "--nodes=1"] and "--gpus-per-node=8" in logged["argv"]
    env = rec["env"]
    assert env["SLURM_NODEID"] == "0" and env["SLURM_NTASKS"] == "1"
    assert len(env["CUDA_VISIBLE_DEVICES"].split(",")) == 8 and env["SLURM_CPUS_ON_NODE"] == "64", env
    assert rec["argv"][:2] == ["-m", "accelerate.commands.launch"]
    args = launch_command_parser().parse_args(rec["argv"][2:])
    assert (args.num_processes, args.num_machines, args.machine_rank) == (16, 2, 0)
    assert args.main_process_ip == node and args.training_script == "expanse.training"


SLICE = ("fr",)  # one language of the romance family (fr, es in the shrunk graph); es stays built


def test_tiny_slice_runs_through_slurm_and_matches_the_local_build(slurm_cluster, built, tmp_path):
    """prompts -> teacher generations -> arbiter scores -> arbitrage -> one family's SFT, each job a
    SLURM job (small per-language jobs grouped), on top of the tiny models the local build made.
    The artifacts, weights included, are byte-identical to the local build's, and sacct shows every
    job."""
    root = tmp_path / "repo"
    shutil.copytree(built, root, symlinks=True)
    slice_files = [f"results/tiny/prompts/{lang}.parquet" for lang in SLICE]
    slice_files += [
        str(p.relative_to(root))
        for lang in SLICE
        for d in ("generations", "scores")
        for p in sorted((root / "results/tiny" / d / lang).glob("*.parquet"))
    ]
    slice_files += [f"results/tiny/arbitrage/{lang}.{ext}" for lang in SLICE for ext in ("parquet", "wins.json")]
    slice_files.append("results/tiny/checkpoints/romance/sft/model.safetensors")
    local = {f: (root / f).read_bytes() for f in slice_files}
    for f in slice_files:
        (root / f).unlink()
    shutil.rmtree(root / "results/tiny/checkpoints/romance/sft")

    target = "results/tiny/checkpoints/romance/sft"
    plan = snakemake(root, "--profile", "slurm", "-n", target).stdout
    assert "Group job prompts" in plan and "Group job arbitrage" in plan
    snakemake_slurm(root, target)
    assert (root / target / "config.json").exists()
    for f, data in local.items():
        assert (root / f).read_bytes() == data, f"{f} differs from the local build"

    rows = sacct("JobID", "State", "Comment", "AllocTRES", since=slurm_cluster["since"], workdir=root)
    assert rows and all(r["State"] == "COMPLETED" for r in rows), rows
    comments = [r["Comment"].split("_wildcards")[0] for r in rows]
    n_teachers = len(list((root / "results/tiny/generations" / SLICE[0]).glob("*.parquet")))
    assert comments.count("rule_generate_teacher") == comments.count("rule_score_arbiter") == len(SLICE) * n_teachers
    assert comments.count("rule_train_sft") == 1
    # grouped: all the slice's prompt preparation in one SLURM job, its arbitrage in another
    # (a group job's comment is rule_<group>_<rules>; with more languages they share these jobs)
    assert sum(c.startswith("rule_prompts_") for c in comments) == 1, comments
    assert sum(c.startswith("rule_arbitrage_") for c in comments) == 1, comments
    assert len(comments) == 2 + 2 * len(SLICE) * n_teachers + 1, comments
    assert all("gres/gpu" not in r["AllocTRES"] for r in rows)  # tiny asks for no GPU
