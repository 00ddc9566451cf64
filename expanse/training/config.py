"""The params model of training (scales.<scale>.sft / dpo / online.dpo) and the job a training
process runs (`TrainJob`: what the rule's script writes as spec.json and `python -m expanse.training`
reads back, validated on both sides)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from expanse.schema import Bool, Float, Int, LearningRate, ModelSource, Steps, Strict, Tokens, first_problem


class LoraCfg(Strict):
    """LoRA through peft; merged back into full weights when training ends."""

    r: Annotated[Int, Field(gt=0, le=65536)] = 16
    alpha: Annotated[Int, Field(gt=0, le=1_048_576)] = 32
    dropout: Annotated[Float, Field(ge=0, lt=1)] = 0.0
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class TrainCfg(Strict):
    """What every trl trainer here shares. `epochs` unless `max_steps` is set; a checkpoint every
    `save_steps` optimizer steps makes a killed job resume where it stopped."""

    lr: LearningRate = 1e-5
    epochs: Annotated[Float, Field(gt=0, le=1000)] = 1.0
    max_steps: Steps | None = None
    batch_size: Annotated[Int, Field(gt=0, le=4096)] = 8
    grad_accum: Annotated[Int, Field(gt=0, le=4096)] = 1
    warmup_ratio: Annotated[Float, Field(ge=0, lt=1)] = 0.1
    weight_decay: Annotated[Float, Field(ge=0, le=1)] = 0.0
    max_length: Tokens = 1024
    save_steps: Steps = 100
    precision: Literal["fp32", "bf16"] = "bf16"
    gradient_checkpointing: Bool = False
    lora: LoraCfg | None = None


class SFTCfg(TrainCfg):
    """SFT (trl's SFTTrainer) on the arbitraged rows: the shared training settings."""


class DPOCfg(TrainCfg):
    """DPO (trl's DPOTrainer), offline and online: the shared settings, beta and the loss."""

    beta: Annotated[Float, Field(gt=0, le=100)] = 0.1
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = "sigmoid"


class LaunchCfg(Strict):
    """How a training job with several GPUs is launched: accelerate with FSDP (full sharding, ZeRO-3
    equivalent; no extra dependency) or DeepSpeed ZeRO-3 (needs the deepspeed package)."""

    strategy: Literal["fsdp", "deepspeed_zero3"] = "fsdp"
    main_process_port: Annotated[Int, Field(gt=1023, lt=65536)] = 29500


class TrainJob(Strict):
    """One training job: stage, the model it starts from and the DPO reference, data and prompts
    files, the stage's config, seed and threads, where the checkpoint, its metrics and the resume
    state go, and what made it (for the model card; not part of the resume fingerprint)."""

    stage: Literal["sft", "dpo"]
    name: str
    model: ModelSource
    ref_model: ModelSource | None = None
    data: list[str]
    prompts: list[str]
    config: SFTCfg | DPOCfg
    seed: Int
    threads: Annotated[Int, Field(gt=0)]
    out_dir: str
    metrics_path: str
    work_dir: str
    made_by: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _config_of_stage(cls, data: Any) -> Any:
        """The config validates as the stage's own model (SFT's has no beta; DPO's needs one)."""
        if isinstance(data, dict) and isinstance(data.get("config"), dict):
            model = DPOCfg if data.get("stage") == "dpo" else SFTCfg
            try:
                data = {**data, "config": model.model_validate(data["config"])}
            except ValidationError as e:
                raise ValueError("{}: {}".format(*first_problem(e, prefix="config"))) from None
        return data

    @model_validator(mode="after")
    def _reference(self):
        if (self.stage == "dpo") != (self.ref_model is not None):
            raise ValueError("ref_model: a dpo job needs a reference model; an sft job has none")
        return self
