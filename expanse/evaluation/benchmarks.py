"""Benchmarks through lm-evaluation-harness: its Python API (`simple_evaluate`) and its HF model
class (`HFLM`) over a model we load ourselves (safetensors only, remote code only where params opt
in). At 8b/32b the tasks are lm-eval's own (global_mmlu_full_{lang}, mgsm_direct_{lang}); at tiny
they are the project's task YAMLs in data/eval/lm_eval over data/eval/{mmlu,mgsm}."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from expanse.errors import ConfigError, DataError

if TYPE_CHECKING:
    from expanse.evaluation.config import BenchmarkCfg
    from expanse.schema import ModelSource

# The YAML tags a task file may use: the standard ones (what yaml.safe_load builds). lm-eval loads task
# files with its own loader, where `!function` imports Python from the task folder and
# `!!python/name:` hands it any function of an imported module; both run code.
SAFE_TAG = "tag:yaml.org,2002:"
SAFE_TAGS = {
    SAFE_TAG + t
    for t in (
        "str",
        "int",
        "float",
        "bool",
        "null",
        "map",
        "seq",
        "timestamp",
        "binary",
        "set",
        "omap",
        "pairs",
        "merge",
        "value",
    )
}


def _tags(node, seen: set[int]):
    if id(node) in seen:  # anchors and aliases share nodes
        return
    seen.add(id(node))
    yield node.tag
    if isinstance(node.value, list):
        for item in node.value:
            for child in item if isinstance(item, tuple) else (item,):
                yield from _tags(child, seen)


def _scan(path: Path, allow_functions: bool) -> tuple[str | None, list[str]]:
    """A task file's first tag that would run code (None if none) and the files it includes. One
    line ValueError (without the key) if it is not YAML."""
    import yaml

    loader = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
    try:
        docs = [d for d in yaml.compose_all(path.read_text(encoding="utf-8"), Loader=loader) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ValueError(f"is not valid YAML ({getattr(e, 'problem', None) or type(e).__name__})") from None
    seen: set[int] = set()
    bad = next(
        (t for d in docs for t in _tags(d, seen) if t not in SAFE_TAGS and not (t == "!function" and allow_functions)),
        None,
    )
    includes: list[str] = []
    if docs and docs[0].tag == SAFE_TAG + "map":
        for key, value in docs[0].value:
            if key.value == "include":
                items = value.value if isinstance(value.value, list) else [value]
                includes = [i.value for i in items if isinstance(i.value, str)]
    return bad, includes


def _task_loader():
    import yaml

    class TaskLoader(yaml.SafeLoader):
        """Reads `!function mod.fn` (validation refused it unless the benchmark allows functions) as
        None, noting the name in self.functions."""

    def function(loader, node):
        loader.functions.append(loader.construct_scalar(node))

    TaskLoader.add_constructor("!function", function)
    return TaskLoader


# path -> (text, refs) of the last task file parsed there: planning asks for a benchmark's inputs
# once per job (each model of each benchmark), with the same task files each time.
_REFS: dict[str, tuple[str, tuple]] = {}


def task_file_refs(path: Path) -> tuple[list[str], list[str], list]:
    """What a task file refers to, as written in it: its `include`s, the `!function` names in it
    and its dataset_kwargs.data_files. The file is read on every call and parsed again whenever its
    text differs from the last parse of that path, so an edit is always seen."""

    text = path.read_text(encoding="utf-8")
    cached = _REFS.get(str(path))
    if cached is None or cached[0] != text:
        loader = _task_loader()(text)
        loader.functions = []
        try:
            spec = loader.get_single_data() or {}
        finally:
            loader.dispose()
        includes = spec.get("include") or []
        data = (spec.get("dataset_kwargs") or {}).get("data_files") or {}
        cached = (
            text,
            (
                tuple(includes if isinstance(includes, list) else [includes]),
                tuple(loader.functions),
                tuple(data.values()) if isinstance(data, dict) else (data,),
            ),
        )
        _REFS[str(path)] = cached
    return tuple(list(part) for part in cached[1])


def check_task_folder(include_path: str, *, allow_functions: bool = False, root: str | Path = ".") -> Path:
    """The benchmark's task folder, resolved, once it is known to be safe to hand to lm-eval: inside
    the repository `root` (symlinks resolved), and no task file in it, nor any file they include,
    with a tag that runs code (`!function` only where the benchmark sets allow_functions). Raises
    ValueError with one line that starts with `include_path: ` and names the file."""
    if PurePosixPath(include_path).is_absolute() or ".." in PurePosixPath(include_path).parts:
        raise ValueError(
            f"include_path: {include_path!r} must be a folder inside the repository, given relative to "
            "it (no absolute path, no '..')"
        )
    root = Path(root).resolve()
    folder = (root / include_path).resolve()
    if not folder.is_relative_to(root):
        raise ValueError(f"include_path: {include_path!r} leads outside the repository (to {folder})")
    if not folder.is_dir():
        raise ValueError(f"include_path: directory {include_path!r} does not exist")
    todo = sorted(p for p in folder.rglob("*") if p.name.endswith(("yaml", "yml")) and p.is_file())
    done: set[Path] = set()
    while todo:
        path = todo.pop(0)
        real = path.resolve()
        if real in done:
            continue
        done.add(real)
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        if not real.is_relative_to(folder):
            raise ValueError(f"include_path: {shown} leads outside the task folder (to {real})")
        try:
            tag, includes = _scan(real, allow_functions)
        except ValueError as e:
            raise ValueError(f"include_path: {shown} {e}") from None
        if tag == "!function":
            raise ValueError(
                f"include_path: {shown} has a !function tag, which runs Python from the task folder; "
                "set allow_functions: true on this benchmark to allow it"
            )
        if tag is not None:
            raise ValueError(
                f"include_path: {shown} has the YAML tag {tag!r}; task files may use only the "
                "standard tags (lm-eval's loader would import or call Python for others)"
            )
        for inc in includes:  # relative to the including file, as lm-eval reads them
            target = Path(inc) if Path(inc).is_absolute() else real.parent / inc
            if not target.is_file():
                raise ValueError(f"include_path: {shown} includes {inc!r}, which is not a file")
            if not target.resolve().is_relative_to(folder):
                raise ValueError(f"include_path: {shown} includes {inc!r}, which is outside the task folder")
            todo.append(target)
    return folder


def task_names(bench: BenchmarkCfg, languages: list[str]) -> dict[str, str]:
    """language -> lm-eval task for the configured languages the benchmark covers."""
    covered = bench.languages if bench.languages is not None else languages
    return {lang: bench.tasks.format(lang=lang) for lang in languages if lang in covered}


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
            raise DataError(
                f"lm-eval task {task!r}: no metric {metric!r} in its results (has: {', '.join(known) or 'nothing'})"
            )
        stderr = row.get(stderr_key)
        out[lang] = {
            "task": task,
            "value": round(float(row[metric]), 6),
            "n": sample_count(results, task),
            "stderr": round(float(stderr), 6) if isinstance(stderr, (int, float)) else None,
        }
    return out


def load_lm(model: ModelSource, *, batch_size: int, gpus: int):
    import torch
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM

    from expanse.checkpoint import load_tokenizer

    kwargs = {"dtype": torch.bfloat16 if gpus else torch.float32}
    if gpus > 1:
        kwargs["device_map"] = "auto"
    hf_model = AutoModelForCausalLM.from_pretrained(model.location, **model.load, **kwargs).eval()
    if gpus == 1:
        hf_model.to("cuda")
    tokenizer = load_tokenizer(model.location, model.load, padding_side="left")
    return HFLM(
        pretrained=hf_model,
        tokenizer=tokenizer,
        batch_size=batch_size,
        device="cuda" if gpus else "cpu",
        max_length=getattr(hf_model.config, "max_position_embeddings", None),
    )


def evaluate(lm, *, tasks: dict[str, str], bench: BenchmarkCfg, seed: int) -> dict:
    import lm_eval
    from lm_eval.tasks import TaskManager

    if bench.include_path:
        try:  # checked when the workflow starts too; again here, right before lm-eval reads the files
            check_task_folder(bench.include_path, allow_functions=bench.allow_functions)
        except ValueError as e:
            raise ConfigError(f"benchmark: {e}") from None
    # local tasks: skip indexing lm-eval's own ~15k task files (about 30 s per job on 2 cores)
    manager = (
        TaskManager(include_path=bench.include_path, include_defaults=False) if bench.include_path else TaskManager()
    )
    unknown = [t for t in tasks.values() if t not in manager.all_tasks]
    if unknown:
        raise DataError(f"lm-eval has no task {unknown[0]!r} (include_path: {bench.include_path})")
    return lm_eval.simple_evaluate(
        model=lm,
        tasks=list(tasks.values()),
        num_fewshot=bench.num_fewshot,
        limit=bench.limit,
        bootstrap_iters=bench.bootstrap_iters,
        log_samples=False,
        apply_chat_template=bench.apply_chat_template,
        task_manager=manager,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
    )


def run_benchmark(
    out_json: str,
    *,
    name: str,
    model_name: str,
    model: ModelSource,
    languages: list[str],
    bench: BenchmarkCfg,
    seed: int,
    gpus: int = 0,
) -> None:
    import lm_eval

    from expanse.io import write_json

    tasks = task_names(bench, languages)
    if not tasks:
        raise DataError(f"benchmark {name!r} covers none of the configured languages")
    lm = load_lm(model, batch_size=bench.batch_size, gpus=gpus)
    results = evaluate(lm, tasks=tasks, bench=bench, seed=seed)
    write_json(
        {
            "benchmark": name,
            "model": model_name,
            "metric": bench.metric,
            "lm_eval_version": lm_eval.__version__,
            "num_fewshot": bench.num_fewshot,
            "languages": extract(results, tasks, bench.metric),
        },
        out_json,
        contract="benchmark",
    )
