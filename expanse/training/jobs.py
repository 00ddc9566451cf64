"""A training job's spec from a rule's inputs and params (what scripts/train_*.py call)."""

from __future__ import annotations

from expanse.schema import ModelSource
from expanse.training.config import LaunchCfg, TrainJob
from expanse.training.launch import run_training


def run_job(
    stage: str,
    *,
    name: str,
    model: ModelSource,
    ref_model: ModelSource | None,
    data: list[str],
    prompts: list[str],
    config: dict,
    seed: int,
    threads: int,
    out_dir: str,
    metrics_path: str,
    work_dir: str,
    gpus: int,
    nodes: int,
    launch: LaunchCfg,
    made_by: dict,
) -> None:
    """Validate the job (its config as the stage's model: a bad value fails here, before any launch)
    and run it."""
    spec = {
        "stage": stage,
        "name": name,
        "model": model,
        "ref_model": ref_model,
        "data": list(data),
        "prompts": list(prompts),
        "config": config,
        "seed": int(seed),
        "threads": int(threads),
        "out_dir": out_dir,
        "metrics_path": metrics_path,
        "work_dir": work_dir,
        "made_by": {
            "stage": stage,
            "model": model.location,
            "reference": ref_model and ref_model.location,
            "data": list(data),
            "config": config,
            "seed": int(seed),
            **made_by,
        },
    }
    run_training(
        TrainJob.model_validate(spec),
        gpus=gpus,
        nodes=nodes,
        strategy=launch.strategy,
        port=launch.main_process_port,
    )
