"""The trl trainers behind `python -m expanse.training SPEC` (one process per GPU when launched by
accelerate): SFT on arbitraged rows, DPO on preference pairs (offline or online), both resumable.

A spec (expanse.training.config.TrainJob: JSON written by the rule's script, validated again here)
holds everything: stage, model and reference model ({location, load}), data and prompts files, the
stage's training config, seed, threads, output and resume directories, and what made it (for the
model card).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from expanse.training.data import preference_rows, sft_rows
from expanse.training.resume import finish, last_checkpoint

if TYPE_CHECKING:
    from expanse.schema import ModelSource
    from expanse.training.config import TrainCfg, TrainJob

KEEP_LOG_KEYS = (
    "loss",
    "grad_norm",
    "learning_rate",
    "epoch",
    "step",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "mean_token_accuracy",
    "entropy",
)
# wall-clock figures transformers adds to evaluate()'s metrics: kept out, so metrics files are byte-identical
TIMING_SUFFIXES = ("runtime", "per_second", "preparation_time")
# counters trl keeps in the trainer but not in its checkpoints (a resumed run restarts them at 0): kept
# out too, so a job resumed after a kill writes the same metrics as an uninterrupted one
RUN_COUNTERS = ("num_tokens",)


def _setup(threads: int):
    import datasets
    import torch
    import transformers

    datasets.disable_progress_bars()  # the log is for humans: one line per logged step, no bars
    transformers.utils.logging.disable_progress_bar()

    torch.set_num_threads(max(1, int(threads)))
    cuda = torch.cuda.is_available()
    if not cuda:  # byte-identical weights on CPU; some CUDA kernels have no deterministic version
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Deterministic mode also fills every torch.empty() with NaN. trl's fused LM head allocates a
        # [tokens, 32768] scratch buffer per forward and backward (it writes the [tokens, vocab] part before
        # reading it); filling it was 25-40% of an SFT or DPO step of the tiny model. The weights come
        # out byte-identical without the fill.
        torch.utils.deterministic.fill_uninitialized_memory = False
    return cuda


def _dtype(cfg: TrainCfg) -> str:
    """The dtype weights load in: bf16 training trains bf16 weights, fp32 training fp32 ones."""
    return "bfloat16" if cfg.precision == "bf16" else "float32"


def _load_model(ref: ModelSource, dtype: str):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(ref.location, **ref.load, dtype=getattr(torch, dtype))


def _args(config_cls, spec: TrainJob, cuda: bool, **extra):
    cfg = spec.config
    bf16 = cfg.precision == "bf16"
    if bf16 and not cuda:
        raise RuntimeError(f"{spec.name}: precision bf16 needs a GPU; use precision: fp32 on CPU")
    return config_cls(
        output_dir=spec.work_dir,
        seed=spec.seed,
        data_seed=spec.seed,
        learning_rate=cfg.lr,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        lr_scheduler_type="cosine",
        max_length=cfg.max_length,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,
        save_only_model=False,
        eval_strategy="no",
        logging_steps=1,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=not cuda,
        bf16=bf16,
        gradient_checkpointing=cfg.gradient_checkpointing,
        dataset_num_proc=None,
        **extra,
    )


def _peft_config(cfg: TrainCfg):
    if cfg.lora is None:
        return None
    from peft import LoraConfig

    lora = cfg.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )


def _history(log_history: list[dict]) -> list[dict]:
    return [
        {k: (round(v, 6) if isinstance(v, float) else v) for k, v in h.items() if k in KEEP_LOG_KEYS}
        for h in log_history
        if "loss" in h
    ]


def _eval(trainer) -> dict:
    if trainer.eval_dataset is None:
        return {}
    m = trainer.evaluate()
    return {
        k.removeprefix("eval_"): round(v, 6)
        for k, v in m.items()
        if isinstance(v, float) and not k.endswith(TIMING_SUFFIXES) and k.removeprefix("eval_") not in RUN_COUNTERS
    }


# SFT rows are conversational prompt-completion pairs (expanse.training.data.sft_rows): the loss is
# on the assistant's answer and its end-of-turn token, never on the prompt.
SFT_LOSS = {"completion_only_loss": True, "assistant_only_loss": False}


def build_trainer(spec: TrainJob):
    """The trl trainer of a spec, with its datasets (train, and dev when there are dev rows)."""
    from datasets import Dataset

    from expanse.checkpoint import load_tokenizer

    cuda = _setup(spec.threads)
    cfg = spec.config
    dtype = _dtype(cfg)
    tokenizer = load_tokenizer(spec.model.location, spec.model.load, padding_side="right")
    model = _load_model(spec.model, dtype)
    if spec.stage == "sft":
        from trl import SFTConfig, SFTTrainer

        rows = sft_rows(spec.data, spec.prompts)
        trainer_cls, args = SFTTrainer, _args(SFTConfig, spec, cuda, packing=False, **SFT_LOSS)
        extra = {}
    elif spec.stage == "dpo":
        from trl import DPOConfig, DPOTrainer

        rows = preference_rows(spec.data, spec.prompts)
        args = _args(DPOConfig, spec, cuda, beta=cfg.beta, loss_type=[cfg.loss_type])
        trainer_cls = DPOTrainer
        # The reference is fixed (SFT for offline DPO, the family's DPO model for online iterations).
        # With LoRA on a policy that is its own reference, trl uses the adapter-free policy as the
        # reference and no second copy is loaded.
        same = spec.ref_model.location == spec.model.location
        extra = {"ref_model": None if cfg.lora and same else _load_model(spec.ref_model, dtype)}
    else:
        raise ValueError(f"unknown training stage {spec.stage!r}")
    train = Dataset.from_list(rows["train"])
    dev = Dataset.from_list(rows["dev"]) if rows["dev"] else None
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=dev,
        processing_class=tokenizer,
        peft_config=_peft_config(cfg),
        **extra,
    )
    return trainer, tokenizer, {"train_rows": len(rows["train"]), "dev_rows": len(rows["dev"])}


def train(spec: TrainJob) -> dict:
    """Run (or resume) one training job and put the finished checkpoint in spec.out_dir."""
    trainer, tokenizer, sizes = build_trainer(spec)
    resume = last_checkpoint(spec.work_dir)
    before = _eval(trainer)
    resumed_from = int(Path(resume).name.split("-")[1]) if resume else 0
    print(
        f"[{spec.name}] training on {trainer.args.device} ({spec.config.precision}): {sizes}, "
        f"resuming from step {resumed_from}",
        flush=True,
    )
    trainer.train(resume_from_checkpoint=resume)
    after = _eval(trainer)
    metrics = {
        **sizes,
        "global_step": trainer.state.global_step,
        "resumed_from_step": resumed_from,
        "eval_before": before,
        "eval_after": after,
        "train": _history(trainer.state.log_history),
    }
    print(f"[{spec.name}] eval before {before} after {after}", flush=True)
    final = Path(spec.work_dir) / "final"
    trainer.save_model(str(final))  # every rank: gathers sharded (FSDP/ZeRO-3) weights on rank 0
    if trainer.is_world_process_zero():
        _finish(spec, final, tokenizer, metrics)
    trainer.accelerator.wait_for_everyone()
    return metrics


def _finish(spec: TrainJob, final: Path, tokenizer, metrics: dict) -> None:
    from expanse.checkpoint import write_card
    from expanse.io import write_json

    (final / "training_args.bin").unlink(missing_ok=True)  # a pickle; expanse_config.json says what made it
    if spec.config.lora is not None:
        final = _merge_lora(spec, final)
    tokenizer.padding_side = "left"  # as generation wants it
    tokenizer.save_pretrained(final)
    write_card(final, title=f"expanse {spec.name}", made_by=spec.made_by, metrics=metrics)
    write_json(metrics, spec.metrics_path, contract="training_metrics")
    out = Path(spec.out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(final, out)
    finish(spec.work_dir)  # resume state is spent once the model is in place


def _merge_lora(spec: TrainJob, adapter_dir: Path) -> Path:
    """Fold the LoRA adapter into full weights so every later stage sees a plain checkpoint."""
    from peft import PeftModel

    base = _load_model(spec.model, _dtype(spec.config))
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    out = adapter_dir.parent / "final_merged"
    merged.save_pretrained(out, safe_serialization=True)
    shutil.rmtree(adapter_dir)
    return out
