"""Benchmarks through lm-evaluation-harness: its Python API (`simple_evaluate`) and its HF model
class (`HFLM`) over a model we load ourselves (safetensors only, remote code only where params opt
in). At 8b/32b the tasks are lm-eval's own (global_mmlu_full_{lang}, mgsm_direct_{lang}); at tiny
they are the project's task YAMLs in data/eval/lm_eval over data/eval/{mmlu,mgsm}."""

from __future__ import annotations

from expanse.errors import DataError


def task_names(bench: dict, languages: list[str]) -> dict[str, str]:
    """language -> lm-eval task for the configured languages the benchmark covers."""
    covered = bench["languages"] if bench["languages"] is not None else languages
    return {lang: bench["tasks"].format(lang=lang) for lang in languages if lang in covered}


def sample_count(results: dict, task: str) -> int | None:
    """Documents evaluated for a task, or for a group the sum over its subtasks."""
    n = results.get("n-samples", {}).get(task)
    if n is not None:
        return int(n["effective"])
    subtasks = results.get("group_subtasks", {}).get(task)
    if not subtasks:
        return None
    counts = [sample_count(results, t) for t in subtasks]
    return None if any(c is None for c in counts) else sum(counts)


def extract(results: dict, tasks: dict[str, str], metric: str) -> dict[str, dict]:
    """language -> {task, value, stderr, n} from lm-eval's results for `metric` ("acc,none")."""
    name, _, filt = metric.partition(",")
    stderr_key = f"{name}_stderr,{filt}"
    out = {}
    for lang, task in tasks.items():
        row = results["results"].get(task)
        if row is None or metric not in row:
            known = sorted(k for k in (row or {}) if k != "alias")
            raise DataError(f"lm-eval task {task!r}: no metric {metric!r} in its results (has: {', '.join(known) or 'nothing'})")
        stderr = row.get(stderr_key)
        out[lang] = {"task": task, "value": round(float(row[metric]), 6), "n": sample_count(results, task),
                     "stderr": round(float(stderr), 6) if isinstance(stderr, (int, float)) else None}
    return out


def load_lm(model: dict, *, batch_size: int, gpus: int):
    import torch
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM

    from expanse.checkpoint import load_tokenizer

    kwargs = {"dtype": torch.bfloat16 if gpus else torch.float32}
    if gpus > 1:
        kwargs["device_map"] = "auto"
    hf_model = AutoModelForCausalLM.from_pretrained(model["location"], **model["load"], **kwargs).eval()
    if gpus == 1:
        hf_model.to("cuda")
    tokenizer = load_tokenizer(model["location"], model["load"], padding_side="left")
    return HFLM(pretrained=hf_model, tokenizer=tokenizer, batch_size=batch_size,
                device="cuda" if gpus else "cpu", max_length=getattr(hf_model.config, "max_position_embeddings", None))


def evaluate(lm, *, tasks: dict[str, str], bench: dict, seed: int) -> dict:
    import lm_eval
    from lm_eval.tasks import TaskManager

    # local tasks: skip indexing lm-eval's own ~15k task files (about 30 s per job on 2 cores)
    manager = (TaskManager(include_path=bench["include_path"], include_defaults=False) if bench["include_path"]
               else TaskManager())
    unknown = [t for t in tasks.values() if t not in manager.all_tasks]
    if unknown:
        raise DataError(f"lm-eval has no task {unknown[0]!r} (include_path: {bench['include_path']})")
    return lm_eval.simple_evaluate(
        model=lm, tasks=list(tasks.values()), num_fewshot=bench["num_fewshot"], limit=bench["limit"],
        bootstrap_iters=bench["bootstrap_iters"], log_samples=False, apply_chat_template=bench["apply_chat_template"],
        task_manager=manager, random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
        fewshot_random_seed=seed)


def run_benchmark(out_json: str, *, name: str, model_name: str, model: dict, languages: list[str], bench: dict,
                  seed: int, gpus: int = 0) -> None:
    import lm_eval

    from expanse.io import write_json

    tasks = task_names(bench, languages)
    if not tasks:
        raise DataError(f"benchmark {name!r} covers none of the configured languages")
    lm = load_lm(model, batch_size=bench["batch_size"], gpus=gpus)
    results = evaluate(lm, tasks=tasks, bench=bench, seed=seed)
    write_json({"benchmark": name, "model": model_name, "metric": bench["metric"],
                "lm_eval_version": lm_eval.__version__, "num_fewshot": bench["num_fewshot"],
                "languages": extract(results, tasks, bench["metric"])}, out_json)
