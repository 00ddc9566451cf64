"""What rules/common.smk needs from params: wildcard constraints, model inputs, per-job params,
resources and targets. Pure functions of the validated Params, unit-tested without Snakemake."""

from __future__ import annotations

import os
import re
from pathlib import Path

from expanse import layout as L
from expanse.arbiter import uses_reward_model
from expanse.config import ModelRef, Params, Resources, load_yaml, validate  # noqa: F401 (re-exported)
from expanse.errors import ConfigError, ExpanseError, RuleError
from expanse.graph import bind_signature

RESOURCE_DEFAULTS = Resources()


# realpath -> the bytes of the config file that passed check_yaml in this process
_CHECKED: dict[str, bytes] = {}


def check_yaml(path: str) -> None:
    """Duplicate keys and syntax errors in a config file (Snakemake's own loader ignores duplicates).
    The Snakefile checks params.yaml before its `configfile:` and rules/common.smk every config file
    after it: a file is parsed again only when its bytes differ from the ones checked."""
    key = os.path.realpath(path)
    try:
        before = Path(path).read_bytes()
    except OSError:
        before = None  # load_yaml says what is wrong
    if before is not None and _CHECKED.get(key) == before:
        return
    load_yaml(path)
    if before is not None and Path(path).read_bytes() == before:  # what was parsed is what was read
        _CHECKED[key] = before


def check_config_file(path: str) -> None:
    """Called by the Snakefile before its `configfile:` directive: Snakemake's own loader would run
    templates in the file and report syntax errors against the Snakefile. Exits with one line."""
    import sys

    try:
        check_yaml(path)
    except ExpanseError as e:
        sys.exit(f"error: {e}")


def alternation(names) -> str:
    """A regex matching any of `names` (longest first, so none stops at a shorter one); nothing when empty."""
    names = sorted(set(names), key=lambda n: (-len(n), n))
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def all_teachers(params: Params) -> list[str]:
    """Every teacher name of every scale, sorted."""
    return sorted({t for s in params.scales.values() for t in s.teachers})


def _lookup(params: Params, scale: str, role: str) -> ModelRef:
    s = params.scales[scale]
    if role == "judge":
        return s.eval.judge.model
    if role.startswith("teachers."):
        return s.teachers[role.split(".", 1)[1]]
    return getattr(s, role)


def model_dir(scale: str, role: str) -> str:
    """Where rules/tiny.smk builds a tiny model."""
    if role.startswith("teachers."):
        return L.fill(L.TEACHER_MODEL, scale=scale, teacher=role.split(".", 1)[1])
    return L.fill(L.MODEL, scale=scale, role=role)


def model_inputs(params: Params, scale: str, role: str) -> list[str]:
    """The model as a rule input: its build directory when tiny, nothing for a hub ID or a path."""
    ref = _lookup(params, scale, role)
    if ref.tiny is not None:
        return [model_dir(scale, role)]
    if ref.path is not None:
        return [ref.path]
    return []


def model_ref(params: Params, scale: str, role: str) -> dict:
    """The resolved reference a script loads: location + from_pretrained kwargs (safetensors only;
    remote code only where the params entry opts in)."""
    ref = _lookup(params, scale, role)
    location = ref.hf or ref.path or model_dir(scale, role)
    load = {"use_safetensors": True, "trust_remote_code": ref.trust_remote_code}
    if ref.revision:
        load["revision"] = ref.revision
    return {"location": location, "load": load}


def needs_reward_model(params: Params, scale: str) -> bool:
    """Whether the scale's arbiter scores with its reward model."""
    return uses_reward_model(params.scales[scale].arbiter.method)


def tiny_spec(params: Params, scale: str, role: str) -> dict:
    """A tiny model's build settings (the architecture of the tiny base it starts from); ConfigError if not tiny."""
    ref = _lookup(params, scale, role)
    if ref.tiny is None:
        raise ConfigError(f"scales.{scale}.{role} is not a tiny model; nothing to build")
    spec = ref.tiny.model_dump()
    if spec["init"] == "base":  # architecture comes from the base it continues
        base = params.scales[scale].base.tiny.model_dump()
        spec.update({k: base[k] for k in ("arch", "hidden", "layers", "heads", "kv_heads", "ffn")})
    return spec


def tiny_init_inputs(params: Params, scale: str, role: str) -> list[str]:
    """The tiny base's build directory when the role's tiny model starts from it, else nothing."""
    ref = _lookup(params, scale, role)
    return [model_dir(scale, "base")] if ref.tiny is not None and ref.tiny.init == "base" else []


def teacher_init_inputs(params: Params, scale: str, teacher: str) -> list[str]:
    """tiny_init_inputs of a teacher."""
    return tiny_init_inputs(params, scale, f"teachers.{teacher}")


def teacher_names(params: Params, scale: str) -> list[str]:
    """The scale's teachers, in params.yaml order."""
    return list(params.scales[scale].teachers)


def teacher_refs(params: Params, scale: str) -> dict[str, dict]:
    """Every teacher's resolved reference (model_ref), by name."""
    return {t: model_ref(params, scale, f"teachers.{t}") for t in params.scales[scale].teachers}


def all_teacher_inputs(params: Params, scale: str) -> list[str]:
    """Every teacher as a rule input (model_inputs): the build directories of the tiny ones."""
    return [f for t in params.scales[scale].teachers for f in model_inputs(params, scale, f"teachers.{t}")]


def tiny_teacher_dirs(params: Params, scale: str) -> list[str]:
    """The build directories of the scale's tiny teachers."""
    return L.every(L.TEACHER_MODEL, "teacher", tiny_teachers(params, scale), scale=scale)


def tiny_teachers(params: Params, scale: str) -> list[str]:
    """The scale's teachers that are tiny models built by rules/tiny.smk."""
    return [t for t, ref in params.scales[scale].teachers.items() if ref.tiny is not None]


def tiny_build(params: Params, scale: str) -> dict:
    """The scale's `tiny:` block (corpus and tokenizer settings) as a dict; a ConfigError when it has none."""
    build = params.scales[scale].tiny
    if build is None:
        raise ConfigError(f"scales.{scale} has no tiny models")
    return build.model_dump()


def resources(params: Params, scale: str, key: str) -> Resources:
    """The scale's resource class `key`, else its `default` class, else the Resources defaults."""
    table = params.scales[scale].resources
    return table.get(key) or table.get("default") or RESOURCE_DEFAULTS


# Optional resources a profile's default-resources may set for every rule (partition, extra sbatch
# options). A rule-level None would drop the default (Snakemake overrides per key), so the rule's
# callable returns the default itself when the params class leaves the value unset.
PROFILE_DEFAULTABLE = ("slurm_partition", "slurm_extra")
# Resource names that look right but break or bypass the SLURM mapping with the slurm executor plugin:
# `gpus` and `nvidia_gpu` are not turned into sbatch --gpus (the job step then fails), `tasks` in a
# GPU job becomes --ntasks-per-gpu, `gres`/`cpus_per_gpu` bypass the params.yaml classes.
FORBIDDEN_RESOURCES = {
    "gpus": "use gpu (the job's total) and gpu_model",
    "nvidia_gpu": "use gpu and gpu_model",
    "gres": "use gpu and gpu_model",
    "tasks": "a GPU job turns it into --ntasks-per-gpu; multi-node jobs use nodes",
    "tasks_per_gpu": "one launcher per node starts the GPU processes",
    "cpus_per_gpu": "use cpus_per_task",
    "mem_mb_per_cpu": "use mem_mb (per node)",
}


def profile_default(defaults, name: str):
    """A static value of Snakemake's default resources (--default-resources / a profile's
    default-resources) as Snakemake would pass it on: a quoted literal is unquoted, a bare word
    stays a string. None when unset."""
    import ast

    if defaults is None or name not in defaults:
        return None
    raw = getattr(defaults[name], "raw", defaults[name])
    if isinstance(raw, str):
        try:
            raw = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            pass
    return raw if isinstance(raw, (str, int, float)) else None


def rule_resources(params: Params, key: str, defaults=None) -> dict:
    """name -> value for a rule's `resources:` from the params class `key`, for every resource the
    slurm executor maps (SLURM_RESOURCE_NAMES). Unset optional values are None (left out of the
    SLURM request), except PROFILE_DEFAULTABLE ones, which fall back to `defaults` (Snakemake's
    default resources). See per_scale for the form of each value."""
    fallback = {name: profile_default(defaults, name) for name in PROFILE_DEFAULTABLE}
    table = {scale: slurm_resources(resources(params, scale, key)) for scale in params.scales}
    return {
        name: per_scale(
            {scale: fallback.get(name) if res.get(name) is None else res[name] for scale, res in table.items()}
        )
        for name in SLURM_RESOURCE_NAMES
    }


def rule_threads(params: Params, key: str):
    """A rule's `threads:`: the params class `key`'s cpus_per_task (see per_scale)."""
    return per_scale({scale: resources(params, scale, key).cpus_per_task for scale in params.scales})


def per_scale(values: dict):
    """A rule resource that depends on the scale only, from {scale: value}: the plain value when every
    scale has the same one, else a function of the wildcards that looks the job's scale up in
    `values`. Snakemake evaluates a resource function once per job when it prints or submits the job
    (through inspect.signature, several times per call); a plain value it takes as it is."""
    distinct = set(values.values())
    if len(distinct) == 1:
        return distinct.pop()

    def value(wildcards):
        return values[wildcards.scale]

    return bind_signature(value)


SLURM_RESOURCE_NAMES = (*Resources.model_fields, "mpi", "tasks_per_node")


def slurm_resources(res: Resources) -> dict:
    """A params resource class as the Snakemake resources the slurm executor maps to sbatch.

    One node: as written (cpus_per_task and mem_mb for the one task).
    Several nodes: the executor's multi-node ("mpi") mode, so that its job step does not wrap the
    rule in a one-node `srun`; the rule starts its own `srun` (one launcher per node, see
    expanse.training.launch). SLURM gets one task slot per GPU: tasks_per_node = GPUs per node and
    cpus_per_task = the node's CPUs / tasks_per_node, so the node's total stays what params says.
    """
    out = res.model_dump()
    if res.nodes > 1:
        per_node = res.gpu // res.nodes
        out.update(mpi="srun", tasks_per_node=per_node, cpus_per_task=res.cpus_per_task // per_node)
    return out


def check_rule_resources(rules) -> None:
    """Refuse resource names that would reach SLURM wrong. `rules`: (rule label, resource names)."""
    for name, names in rules:
        for res in names:
            if res in FORBIDDEN_RESOURCES:
                raise RuleError(
                    f"rule {name}: resources: '{res}' is not mapped correctly to SLURM by the "
                    f"slurm executor; {FORBIDDEN_RESOURCES[res]}"
                )


def check_code_params(rules, root) -> None:
    """Every rule that runs a script passes that script's code fingerprint as its `code` param, so
    an edit to a module the script imports reruns its jobs. `rules`: (name, script path or None,
    its `code` param or None)."""
    from expanse.fingerprint import fingerprint

    for name, script, code in rules:
        if script is None:
            continue
        code_of = fingerprint(script, root)
        if code != code_of.sha256:
            raise RuleError(
                f"rule {name}: params: "
                + (
                    "add code=code_fingerprint(SCRIPT), SCRIPT as in its script: directive, so that an edit to a "
                    "module it imports reruns its jobs"
                    if code is None
                    else f"code is not the fingerprint of its script {code_of.entry}; pass the script: path"
                )
            )


def selection_scores(params: Params, scale: str, lang: str) -> list[str]:
    """The score files select_arbitrage picks a language's SFT rows from."""
    if params.scales[scale].arbitrage.routing == "all":
        return L.every(L.SCORES, "teacher", params.scales[scale].teachers, scale=scale, lang=lang)
    return [*probe_scores(params, scale, lang), L.fill(L.REST_SCORES, scale=scale, lang=lang)]


def probe_scores(params: Params, scale: str, lang: str) -> list[str]:
    """Each teacher's routing-probe score file for a language."""
    return L.every(L.PROBE_SCORES, "teacher", params.scales[scale].teachers, scale=scale, lang=lang)


def routing_decisions(params: Params, scale: str) -> list[str]:
    """Each language's routing decision (none with routing: all)."""
    if params.scales[scale].arbitrage.routing == "all":
        return []
    return L.every(L.ROUTING, "lang", params.languages, scale=scale)


def arbitrage_targets(params: Params, scale: str) -> list[str]:
    """A scale's arbitrage outputs: per-language selections, wins and offline pairs, summary, tiny-only metrics."""
    s = params.scales[scale]
    out = []
    for lang in params.languages:
        out += [L.fill(p, scale=scale, lang=lang) for p in (L.ARBITRAGE, L.WINS, L.OFFLINE_PAIRS)]
    out.append(L.fill(L.ARBITRAGE_SUMMARY, scale=scale))
    if s.tiny is not None:
        out += [L.fill(L.TEACHER_HELDOUT_LOSS, scale=scale), L.fill(L.ARBITER_ACCURACY, scale=scale)]
    return out


# ---------------------------------------------------------------------------------- training
def prompt_files(params: Params, scale: str, lang: str) -> dict[str, str]:
    """A language's two prompt files (the same at every scale), as named inputs."""
    cfg = params.languages[lang]
    return {"prompts": cfg.prompts, "eval_prompts": cfg.eval_prompts}


def eval_prompt_file(params: Params, scale: str, lang: str) -> dict[str, str]:
    """A language's held-out prompt file, as a named input."""
    return {"eval_prompts": params.languages[lang].eval_prompts}


def language_section(params: Params, scale: str, lang: str) -> dict:
    """languages.<lang> of params.yaml, as a job's params."""
    return params.languages[lang].model_dump()


def family_of(params: Params, scale: str) -> dict[str, str]:
    """Every language's family."""
    return {lang: cfg.family for lang, cfg in params.languages.items()}


def languages_by_family(params: Params, scale: str) -> dict[str, list[str]]:
    """Every family's languages, in params.yaml order."""
    return {family: family_languages(params, family) for family in params.families}


def family_languages(params: Params, family: str) -> list[str]:
    """The language codes of a family, in params.yaml order."""
    return params.family_languages(family)


def check_family(params: Params, family: str, lang: str) -> None:
    """A ConfigError when `lang` does not belong to `family` in params.yaml."""
    if params.languages[lang].family != family:
        raise ConfigError(
            f"languages.{lang}.family: {lang!r} belongs to family {params.languages[lang].family!r}, not {family!r}"
        )


def checkpoint_dir(scale: str, family: str, stage: str) -> str:
    """Where a family's checkpoint of a training stage is written."""
    return L.fill(L.CHECKPOINT, scale=scale, family=family, stage=stage)


def stage_start(params: Params, scale: str, family: str, stage: str) -> str:
    """The checkpoint a family's `stage` (dpo | online) starts from and is referenced against: the
    family's previous stage, or the merge of all families' previous stage when `merge.after` lists it."""
    prev = {"dpo": "sft", "online": "dpo"}[stage]
    if prev in params.scales[scale].merge.after:
        return merge_dir(scale, prev)
    return checkpoint_dir(scale, family, prev)


def policy_dir(params: Params, scale: str, family: str, it: int) -> str:
    """The policy that online iteration `it` samples from and trains on: where online training
    starts (the family's offline DPO model, or their merge) for the first iteration, the previous
    iteration's model after that."""
    it = int(it)
    if it < 1:
        raise ValueError(f"online iterations count from 1, got {it}")
    return (
        stage_start(params, scale, family, "online") if it == 1 else checkpoint_dir(scale, family, f"online_it{it - 1}")
    )


def merge_dir(scale: str, stage: str | None = None) -> str:
    """The merged model (`stage` None), or the merge of the families after an earlier stage."""
    return L.fill(L.MERGED, scale=scale) if stage is None else L.fill(L.STAGE_MERGE, scale=scale, stage=stage)


def stage_checkpoints(params: Params, scale: str, stage: str) -> list[str]:
    """Every family's checkpoint of a stage (sft | dpo | online = the last iteration), in family order."""
    name = final_stage(params, scale) if stage == "online" else stage
    return [checkpoint_dir(scale, family, name) for family in params.families]


def merge_weights(params: Params) -> list[float]:
    """The families' merge weights, in family order."""
    return list(params.families.values())


def merge_search(params: Params, scale: str) -> list[str]:
    """The merge-weight search result as a rule input when the scale's merge.search is enabled, else nothing."""
    return [L.fill(L.MERGE_SEARCH, scale=scale)] if params.scales[scale].merge.search.enabled else []


def _merge_needs_base(params: Params, scale: str) -> bool:
    from expanse.merging import get_method

    return get_method(params.scales[scale].merge.method).NEEDS_BASE


def merge_base(params: Params, scale: str) -> list[str]:
    """The base checkpoint a task-vector method merges relative to, as a rule input (none for
    linear and slerp, nor for a hub ID)."""
    return model_inputs(params, scale, "base") if _merge_needs_base(params, scale) else []


def merge_base_ref(params: Params, scale: str) -> dict | None:
    """The base model reference a task-vector merge loads; None when the method needs no base."""
    return model_ref(params, scale, "base") if _merge_needs_base(params, scale) else None


def final_stage(params: Params, scale: str) -> str:
    """The name of a family's last checkpoint: the last online iteration (online_itN)."""
    return f"online_it{params.scales[scale].online.iterations}"


def checkpoint_ref(params: Params, scale: str, location: str) -> dict:
    """A checkpoint this workflow wrote, as a model reference: safetensors, and remote code only if
    the base model's params entry opts in (fine-tuning keeps the architecture)."""
    return {
        "location": location,
        "load": {"use_safetensors": True, "trust_remote_code": params.scales[scale].base.trust_remote_code},
    }


def sampling(params: Params, scale: str) -> dict:
    """The scale's generation settings with the online sampling temperature and top_p."""
    s = params.scales[scale]
    return {**s.generation.model_dump(), "temperature": s.online.temperature, "top_p": s.online.top_p}


def online_seed(params: Params, scale: str, it: int) -> int:
    """Each iteration draws different samples, the same on every rerun (and at every scale)."""
    return params.seed + 1000 * int(it)


def training_stages(params: Params, scale: str) -> list[str]:
    """A family's checkpoints in training order: sft, dpo, online_it1 .. online_itN."""
    return ["sft", "dpo", *(f"online_it{it}" for it in range(1, params.scales[scale].online.iterations + 1))]


def training_metric_keys(params: Params, scale: str) -> list[dict]:
    """{family, stage} of every training metrics file of a scale, in the order training_metrics lists them."""
    return [{"family": f, "stage": stage} for f in params.families for stage in training_stages(params, scale)]


def training_metrics(params: Params, scale: str) -> list[str]:
    """Every family's metrics file of every training stage (the order of training_metric_keys)."""
    return [L.fill(L.CHECKPOINT_METRICS, scale=scale, **k) for k in training_metric_keys(params, scale)]


def online_score_keys(params: Params, scale: str) -> list[dict]:
    """{family, it, lang} of every online scores file of a scale, in the order online_scores lists them."""
    return [
        {"family": f, "it": it, "lang": lang}
        for f in params.families
        for lang in family_languages(params, f)
        for it in range(1, params.scales[scale].online.iterations + 1)
    ]


def online_scores(params: Params, scale: str) -> list[str]:
    """The arbiter's scores of the policy's samples, every family, language and iteration."""
    return [L.fill(L.ONLINE_SCORES, scale=scale, **k) for k in online_score_keys(params, scale)]


def training_targets(params: Params, scale: str) -> list[str]:
    """Every family's last online checkpoint and the training summary of a scale."""
    out = []
    for family in params.families:
        out += [checkpoint_dir(scale, family, final_stage(params, scale))]
    out.append(L.fill(L.TRAINING_SUMMARY, scale=scale))
    return out


def merged_targets(params: Params, scale: str) -> list[str]:
    """The merged model of a scale."""
    return [merge_dir(scale)]


# ---------------------------------------------------------------------------------- eval
EVAL_MODEL = r"merged|base|family\.[a-z][a-z0-9_]*|teacher\.[a-z][a-z0-9_]*"


def eval_models(params: Params, scale: str, lang: str) -> list[str]:
    """The models that answer a language's test prompts: the merged model and its opponents (the
    base, the language's family model, every teacher)."""
    return ["merged", *eval_opponents(params, scale, lang).values()]


def eval_opponents(params: Params, scale: str, lang: str) -> dict[str, str]:
    """label -> model; the best teacher is picked per language from the arbitrage wins."""
    family = params.languages[lang].family
    return {
        "base": "base",
        "own_family": f"family.{family}",
        **{f"teacher.{t}": f"teacher.{t}" for t in params.scales[scale].teachers},
    }


def eval_answer_files(params: Params, scale: str, lang: str) -> list[str]:
    """The answers to a language's test prompts of every model judged on it (eval_models)."""
    return L.every(L.EVAL_ANSWERS, "model", eval_models(params, scale, lang), scale=scale, lang=lang)


def benchmark_result_files(params: Params, scale: str) -> list[str]:
    """Every benchmark's result of every benchmarked model (benchmark_models)."""
    return [
        L.fill(L.BENCHMARK_RESULT, scale=scale, bench=bench, model=model)
        for bench in params.scales[scale].eval.benchmarks
        for model in benchmark_models(params, scale)
    ]


def benchmark_models(params: Params, scale: str) -> list[str]:
    """The models every benchmark runs: the merged model, the base and each family's last checkpoint."""
    return ["merged", "base", *(f"family.{family}" for family in params.families)]


def _eval_model(params: Params, scale: str, model: str) -> tuple[str, str]:
    kind, _, name = model.partition(".")
    if kind == "family" and name not in params.families:
        raise ConfigError(f"eval model {model!r}: no family {name!r} in params.yaml")
    if kind == "teacher" and name not in params.scales[scale].teachers:
        raise ConfigError(f"eval model {model!r}: no teacher {name!r} in scales.{scale}.teachers")
    return kind, name


def eval_model_inputs(params: Params, scale: str, model: str) -> list[str]:
    """An eval model (merged, base, family.NAME, teacher.NAME) as rule inputs: its checkpoint or model inputs."""
    kind, name = _eval_model(params, scale, model)
    if kind == "merged":
        return [merge_dir(scale)]
    if kind == "family":
        return [checkpoint_dir(scale, name, final_stage(params, scale))]
    return model_inputs(params, scale, "base" if kind == "base" else f"teachers.{name}")


def eval_model_ref(params: Params, scale: str, model: str) -> dict:
    """The reference a script loads an eval model from (see eval_model_inputs)."""
    kind, name = _eval_model(params, scale, model)
    if kind in ("merged", "family"):
        return checkpoint_ref(params, scale, eval_model_inputs(params, scale, model)[0])
    return model_ref(params, scale, "base" if kind == "base" else f"teachers.{name}")


def _judge_role(params: Params, scale: str) -> str:
    """The reward-model judge uses the scale's reward model; the LLM judge its own model."""
    return "reward_model" if params.scales[scale].eval.judge.method == "reward_model" else "judge"


def judge_inputs(params: Params, scale: str) -> list[str]:
    """The judge's model as a rule input (the scale's reward model for the reward_model judge)."""
    return model_inputs(params, scale, _judge_role(params, scale))


def judge_ref(params: Params, scale: str) -> dict:
    """The reference the judge loads its model from (the scale's reward model for the reward_model judge)."""
    return model_ref(params, scale, _judge_role(params, scale))


def benchmark_cfg(params: Params, scale: str, bench: str):
    """The scale's settings of benchmark `bench`; a ConfigError when the scale has no such benchmark."""
    benchmarks = params.scales[scale].eval.benchmarks
    if bench not in benchmarks:
        raise ConfigError(f"scales.{scale}.eval.benchmarks has no {bench!r}")
    return benchmarks[bench]


def benchmark_section(params: Params, scale: str, bench: str) -> dict:
    """benchmark_cfg as a job's params."""
    return benchmark_cfg(params, scale, bench).model_dump()


def benchmark_files(params: Params, scale: str, bench: str) -> list[str]:
    """The local task YAMLs a benchmark runs and the data files they read (none for lm-eval's own
    tasks), so that editing an item reruns the benchmark."""
    cfg = benchmark_cfg(params, scale, bench)
    if cfg.include_path is None:
        return []
    from expanse.evaluation.benchmarks import task_file_refs, task_names

    files: list[str] = []
    for task in task_names(cfg, list(params.languages)).values():
        path = Path(cfg.include_path) / f"{task}.yaml"
        if not path.is_file():
            raise ConfigError(f"scales.{scale}.eval.benchmarks.{bench}: no task file {path}")
        includes, functions, data = task_file_refs(path)
        files.append(str(path))
        files += [str(Path(cfg.include_path) / inc) for inc in includes]
        for function in functions:  # a `!function mod.fn` tag's module file is a task input too
            module = Path(cfg.include_path) / (function.rpartition(".")[0].replace(".", "/") + ".py")
            if module.is_file():
                files.append(str(module))
        files += data
    return list(dict.fromkeys(files))


def eval_inputs(params: Params, scale: str) -> list[str]:
    """The eval artifacts the report gathers, not the report: win-rates and benchmark results."""
    out = L.every(L.WINRATE, "lang", params.languages, scale=scale)
    out += [
        L.fill(L.BENCHMARK_RESULT, scale=scale, bench=bench, model=model)
        for bench in params.scales[scale].eval.benchmarks
        for model in benchmark_models(params, scale)
    ]
    return out


def lineage_inputs(params: Params, scale: str) -> list[str]:
    """Every artifact of the scale that lineage describes (all but the report and itself)."""
    return list(
        dict.fromkeys(
            [
                *arbitrage_targets(params, scale),
                *training_targets(params, scale),
                *merged_targets(params, scale),
                *eval_inputs(params, scale),
            ]
        )
    )


def eval_targets(params: Params, scale: str) -> list[str]:
    """A scale's eval report (HTML and Markdown) and its metrics."""
    return [L.fill(p, scale=scale) for p in (L.REPORT_HTML, L.REPORT_MD, L.REPORT_METRICS)]


# The Snakefile's target rules: <kind>_<scale> for every kind here and every scale of params.yaml.
TARGETS = {
    "arbitrage": arbitrage_targets,
    "train": training_targets,
    "merged": merged_targets,
    "eval": eval_targets,
}


def target_rules(scales) -> set[str]:
    """Names of the Snakefile's target rules, which make nothing: `all` and <kind>_<scale>."""
    return {"all", *(f"{kind}_{scale}" for kind in TARGETS for scale in scales)}
