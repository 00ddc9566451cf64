"""The training command, built from the rule's resources, and running it.

- CPU or one GPU: one process, `python -m expanse.training SPEC`.
- several GPUs on one node: `accelerate launch` with the FSDP (or DeepSpeed ZeRO-3) config from
  envs/accelerate/, one process per GPU.
- several nodes: `srun` starts one `accelerate launch` per node across the SLURM allocation; each
  takes its machine rank from `$SLURM_NODEID` and meets the others at the allocation's first node.

The rule's script writes the job spec (JSON) into the job's resume directory and calls
`run_training`; the launched processes read only that spec.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from expanse.errors import ConfigError, ExpanseError

if TYPE_CHECKING:
    from expanse.training.config import TrainJob

ACCELERATE_CONFIGS = Path(__file__).resolve().parents[2] / "envs" / "accelerate"
STRATEGIES = ("fsdp", "deepspeed_zero3")


def launch_command(
    spec_path: str,
    *,
    gpus: int,
    nodes: int = 1,
    strategy: str = "fsdp",
    precision: str = "bf16",
    port: int = 29500,
    head_node: str | None = None,
    python: str = sys.executable,
    config_dir: Path = ACCELERATE_CONFIGS,
) -> list[str]:
    """argv of the training launch for `gpus` GPUs in total over `nodes` nodes."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown launch strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    if nodes < 1 or gpus < 0:
        raise ConfigError(f"bad resources: gpus={gpus}, nodes={nodes}")
    if nodes > 1 and (gpus == 0 or gpus % nodes):
        raise ConfigError(f"{gpus} GPUs cannot be spread evenly over {nodes} nodes")
    train = ["-m", "expanse.training", str(spec_path)]
    if gpus <= 1 and nodes == 1:
        return [python, *train]
    accelerate = [
        python,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(Path(config_dir) / f"{strategy}.yaml"),
        "--num_processes",
        str(gpus),
        "--num_machines",
        str(nodes),
        "--mixed_precision",
        "bf16" if precision == "bf16" else "no",
    ]
    if nodes == 1:
        return [*accelerate, "--main_process_port", str(port), *train]
    if not head_node:
        raise ConfigError("a multi-node launch needs the head node's address")
    return per_node_launch(
        [
            *accelerate,
            "--main_process_ip",
            head_node,
            "--main_process_port",
            str(port),
            "--rdzv_backend",
            "static",
            "--same_network",
        ],
        train,
        nodes=nodes,
        gpus_per_node=gpus // nodes,
    )


def per_node_launch(launcher: list[str], train: list[str], *, nodes: int, gpus_per_node: int) -> list[str]:
    """`srun` starting `launcher ... --machine_rank $SLURM_NODEID train...` once on each node of the
    allocation. `--whole` gives each launcher all of its node's allocated CPUs and memory (the job
    has one task slot per GPU); the node's GPUs are asked for explicitly. $SLURM_NODEID is expanded
    by each node's shell, not here."""
    return [
        "srun",
        f"--nodes={nodes}",
        "--ntasks-per-node=1",
        "--whole",
        f"--gpus-per-node={gpus_per_node}",
        "--kill-on-bad-exit=1",
        "bash",
        "-c",
        f'{shlex.join(launcher)} --machine_rank "$SLURM_NODEID" {shlex.join(train)}',
    ]


def head_node_of_allocation(env=None) -> str:
    """The first host of the SLURM allocation (the rendezvous point of a multi-node launch).
    Snakemake's SLURM job step removes most SLURM_* variables but keeps SLURM_JOB_ID, so the node
    list is asked of SLURM when it is not in the environment."""
    env = os.environ if env is None else env
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not nodelist and env.get("SLURM_JOB_ID"):
        nodelist = subprocess.run(
            ["squeue", "--noheader", "--jobs", env["SLURM_JOB_ID"], "--format=%N"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    if not nodelist:
        raise ExpanseError("a multi-node training job must run inside a SLURM allocation (no SLURM_JOB_ID)")
    out = subprocess.run(["scontrol", "show", "hostnames", nodelist], check=True, capture_output=True, text=True)
    return out.stdout.split()[0]


def run_training(spec: TrainJob, *, gpus: int, nodes: int, strategy: str, port: int) -> None:
    """Write the spec into its resume directory and run the launch; the checkpoint appears at
    spec.out_dir only when training ended (the trainer renames it into place)."""
    from expanse.io import write_json
    from expanse.training.resume import prepare_work_dir

    prepare_work_dir(spec)
    spec_path = Path(spec.work_dir) / "spec.json"
    write_json(spec.model_dump(mode="json"), spec_path)
    head = head_node_of_allocation() if nodes > 1 else None
    argv = launch_command(
        str(spec_path),
        gpus=gpus,
        nodes=nodes,
        strategy=strategy,
        precision=spec.config.precision,
        port=port,
        head_node=head,
    )
    print("launch:", shlex.join(argv), flush=True)
    env = {**os.environ, "PYTHONHASHSEED": str(spec.seed)}
    proc = subprocess.run(argv, env=env)
    if proc.returncode != 0:
        raise ExpanseError(f"training {spec.name} failed (exit {proc.returncode}); see the job's log")
    if not (Path(spec.out_dir) / "config.json").exists():
        raise ExpanseError(f"training {spec.name} ended without writing {spec.out_dir}")


def read_spec(path: str) -> TrainJob:
    """The job a launched training process runs, validated (one line naming the file and key if not)."""
    from pydantic import ValidationError

    from expanse.errors import DataError
    from expanse.schema import one_line
    from expanse.training.config import TrainJob

    try:
        return TrainJob.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except ValidationError as e:
        raise DataError(one_line(e, path)) from None
