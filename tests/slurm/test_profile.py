"""The cluster profile plans without a cluster: `snakemake --profile slurm -n merged_32b` from the
repo root, and wrong annotations stop Snakemake with one line before anything is submitted."""

from __future__ import annotations

import yaml
from shrink import REPO, copy_repo
from smk import parse_plan, snakemake


def dry_run(cwd, *args):
    return snakemake(cwd, *args, check=False)


def jobs_of(out: str) -> list[tuple[str, str]]:
    """(rule, resources) of every planned job."""
    return [(rule, w.get("_resources", "")) for rule, w in parse_plan(out)]


def test_profile_plans_the_whole_32b_graph_from_the_repo_root():
    proc = dry_run(REPO, "--profile", "slurm", "-n", "merged_32b")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = jobs_of(proc.stdout)
    plain = jobs_of(dry_run(REPO, "-n", "merged_32b").stdout)
    assert sorted(r for r, _ in jobs) == sorted(r for r, _ in plain) and len(jobs) > 400
    res = {r: line for r, line in jobs}
    # the profile's account and partition reach every job; training is 2 nodes x 8 h100
    assert all("slurm_account=expanse" in line and "slurm_partition=gpu" in line for _, line in jobs)
    for rule in ("train_sft", "train_dpo", "train_online_dpo"):
        assert all(
            k in res[rule]
            for k in (
                "gpu=16",
                "gpu_model=h100",
                "nodes=2",
                "mpi=srun",
                "tasks_per_node=8",
                "cpus_per_task=8",
                "mem_mb=1000000",
                "runtime=2880",
            )
        ), res[rule]
    assert "gpu=4" in res["generate_teacher"] and "gpu=0" in res["merge_families"]
    # small per-language CPU jobs are bundled: 23 languages in 3 SLURM jobs
    assert proc.stdout.count("Group job prompts") == 3 and proc.stdout.count("Group job arbitrage") == 3
    assert dry_run(REPO, "-n", "merged_32b").stdout.count("Group job prompts") == 23  # no bundling locally


def test_a_resource_name_the_executor_maps_wrong_stops_snakemake(tmp_path):
    proc = dry_run(REPO, "--profile", "slurm", "-n", "merged_32b", "--default-resources", "gpus=1")
    assert (
        proc.returncode == 1
        and proc.stderr.strip().splitlines()[-1].startswith("error: rule ")
        and "'gpus' is not mapped correctly to SLURM" in proc.stderr
    )
    root = copy_repo(tmp_path / "repo")
    smk = root / "rules/arbitrage.smk"
    text = smk.read_text()
    smk.write_text(
        text.replace('        **resources_for("score"),\n', '        **resources_for("score"),\n        tasks=1,\n', 1)
    )
    proc = dry_run(root, "--profile", "slurm", "-n", "arbitrage_32b")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: rule score_arbiter (rules/arbitrage.smk): resources: 'tasks' is not mapped correctly to SLURM by the "
        "slurm executor; a GPU job turns it into --ntasks-per-gpu; multi-node jobs use nodes"
    )


def test_a_gpu_class_without_its_gpu_model_stops_snakemake(tmp_path):
    root = copy_repo(tmp_path / "repo")
    params = yaml.safe_load((root / "params.yaml").read_text())
    del params["scales"]["32b"]["resources"]["score"]["gpu_model"]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    proc = dry_run(root, "--profile", "slurm", "-n", "arbitrage_32b")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "error: params.yaml: scales.32b.resources.score.gpu_model: a request for 1 GPU(s) must name the GPU model"
    ), last
    assert not (root / "results").exists() and not (root / ".snakemake/slurm_logs").exists()
