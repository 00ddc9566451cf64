# Load and validate params.yaml, constrain wildcards, and the get_* / resources helpers the rules
# use. Logic lives in the expanse package; this file only wires.
import os
import sys

from expanse import fingerprint as fp
from expanse import graph
from expanse import layout as L
from expanse import workflow_support as ws
from expanse.errors import ExpanseError

try:
    graph.install_lock_patch()  # a run that ends releases only its own locks, not all runs'
    for _configfile in workflow.configfiles:
        ws.check_yaml(_configfile)
    PARAMS = ws.validate(config)
except ExpanseError as _e:
    sys.exit(f"error: {_e}")

SCALES = list(PARAMS.scales)
# Scheduling: jobs on the way to the merged model (the tiny models, arbitrage, pairs, training, the
# online iterations, the merge) have priority over jobs nothing on that way waits for (the eval of
# the base, teacher and family models, held-out measurements, summaries), which fill the cores the
# training chains leave idle. Without it a language's teacher jobs could wait behind eval answers
# while its family's whole training chain waited for them.
CRITICAL = 1
LANGS = list(PARAMS.languages)
FAMILIES = list(PARAMS.families)


wildcard_constraints:
    scale=ws.alternation(SCALES),
    lang=ws.alternation(LANGS),
    teacher=ws.alternation(ws.all_teachers(PARAMS)),
    family=ws.alternation(FAMILIES),
    it=r"[1-9][0-9]*",
    stage=r"sft|dpo",
    model=ws.EVAL_MODEL,
    bench=ws.alternation({b for s in PARAMS.scales.values() for b in s.eval.benchmarks}),


def scale_of(wildcards):
    return PARAMS.scales[wildcards.scale]


def resources_for(key):
    """Rule resources from scales.<scale>.resources.<key> (falling back to .default); a partition
    the class leaves unset comes from the profile's default-resources. A value every scale shares is
    plain, the others are functions of {scale} (expanse.workflow_support.per_scale)."""
    return ws.rule_resources(PARAMS, key, workflow.resource_settings.default_resources)


def check_rule_resources():
    """Called at the end of the Snakefile, once all rules exist. Refuses resource names that the slurm
    executor would map wrong (gpus, tasks, ...), whether from a rule or a profile."""
    try:
        ws.check_rule_resources(
            (f"{r.name} ({os.path.relpath(r.snakefile)})", list(r.resources)) for r in workflow.rules
        )
    except ExpanseError as e:
        sys.exit(f"error: {e}")


# ---- code. Snakemake's `code` trigger sees a script file only, and the scripts are thin, so every
# script rule passes code=code_fingerprint(SCRIPT) as a param, the hash of the script and of every
# project module it imports, transitively, read from this workflow's own files
# (expanse/fingerprint.py). An edit to a module changes the param of exactly the jobs that run it,
# and the params trigger reruns them; the dvc.yaml generator makes the modules the stage's deps.
def code_fingerprint(entry):
    """The fingerprint of the code `entry` runs: a script path relative to the rule file (as in its
    `script:`), or a module a `shell:` rule runs as `python -m expanse...`."""
    path = entry if fp.is_module_name(entry) else os.path.join(workflow.current_basedir, entry)
    return fp.fingerprint(path, workflow.basedir).sha256


def check_code_params():
    """Called at the end of the Snakefile: every rule with a script passes its script's fingerprint."""
    try:
        ws.check_code_params(
            (
                (
                    r.name,
                    os.path.join(os.path.dirname(r.snakefile), r.script) if r.script else None,
                    dict(r.params.items()).get("code"),
                )
                for r in workflow.rules
            ),
            workflow.basedir,
        )
    except ExpanseError as e:
        sys.exit(f"error: {e}")
    fp.save_cache(workflow.basedir)


def from_params(fn, *wildcards, **fixed):
    """An input or params function: fn(PARAMS, scale, *the values of `wildcards`, **fixed), for a
    rule whose value one expanse.workflow_support function computes from the validated params."""

    def value(wc):
        return fn(PARAMS, wc.scale, *(getattr(wc, name) for name in wildcards), **fixed)

    value.__name__ = value.__qualname__ = f"{fn.__name__}_for_wildcards"
    return value


def threads_for(key):
    return ws.rule_threads(PARAMS, key)


def bind_signatures():
    """Called at the end of the Snakefile: Snakemake reads the parameters of every input and params
    function once, instead of through inspect.signature each time it calls one (several times per
    job)."""
    graph.bind_signatures(workflow.rules)


# ---- inputs
def get_teacher_model(wildcards):
    return ws.model_inputs(PARAMS, wildcards.scale, f"teachers.{wildcards.teacher}")


def get_reward_model(wildcards):
    return (
        ws.model_inputs(PARAMS, wildcards.scale, "reward_model")
        if ws.needs_reward_model(PARAMS, wildcards.scale)
        else []
    )


# ---- learned routing (rules/routing.smk)
def get_probe(wildcards):
    a = scale_of(wildcards).arbitrage
    return {"fraction": a.probe_fraction, "min_probe": a.min_probe}


# ---- params: only the values a job uses, so editing one language or teacher reruns only its jobs.
# Every param is a function of the wildcards (or a plain string): the dvc.yaml generator calls them
# to learn which params.yaml keys each job reads (expanse/dvc_pipeline.py).
def get_seed(wildcards):
    return PARAMS.seed


def get_language_codes(wildcards):
    return list(PARAMS.languages)


def get_family_names(wildcards):
    return list(PARAMS.families)


def get_teacher_ref(wildcards):
    return ws.model_ref(PARAMS, wildcards.scale, f"teachers.{wildcards.teacher}")


def get_reward_model_ref(wildcards):
    return (
        ws.model_ref(PARAMS, wildcards.scale, "reward_model")
        if ws.needs_reward_model(PARAMS, wildcards.scale)
        else None
    )


def scale_value(key, **dump):
    """A params function: scales.<the job's scale>.<key> (a dotted key); a section comes as its
    model_dump(**dump), e.g. scale_value("merge", exclude={"search"})."""

    def value(wildcards):
        v = scale_of(wildcards)
        for part in key.split("."):
            v = getattr(v, part)
        return v.model_dump(**dump) if hasattr(v, "model_dump") else v

    value.__name__ = value.__qualname__ = f"scales_{key.replace('.', '_')}"
    return value


def get_tiny_spec(role):
    def spec(wildcards):
        return ws.tiny_spec(PARAMS, wildcards.scale, role if role != "teacher" else f"teachers.{wildcards.teacher}")

    return spec


def get_tiny_build(section):
    def value(wildcards):
        return ws.tiny_build(PARAMS, wildcards.scale)[section]

    return value


def get_gpus(key):
    def gpus(wildcards):
        return ws.resources(PARAMS, wildcards.scale, key).gpu

    return gpus


def get_nodes(key):
    def nodes(wildcards):
        return ws.resources(PARAMS, wildcards.scale, key).nodes

    return nodes


# ---- training: a family's inputs are its per-language files, never a glob
def family_files(pattern):
    def files(wildcards):
        values = dict(wildcards.items())
        return [pattern.format(**{**values, "lang": lang}) for lang in ws.family_languages(PARAMS, wildcards.family)]

    return files


def get_policy(wildcards):
    """The checkpoint online iteration {it} samples from and continues: dpo, then online_it{it-1}."""
    if "lang" in wildcards.keys():
        ws.check_family(PARAMS, wildcards.family, wildcards.lang)
    return ws.policy_dir(PARAMS, wildcards.scale, wildcards.family, wildcards.it)


def get_stage_start(stage):
    """Where a family's dpo / online stage starts: its previous stage, or their merge (merge.after)."""

    def start(wildcards):
        return ws.stage_start(PARAMS, wildcards.scale, wildcards.family, stage)

    return start


def get_checkpoint_load(wildcards):
    return ws.checkpoint_ref(PARAMS, wildcards.scale, "")["load"]


# ---- merge
def get_stage_checkpoints(wildcards):
    return ws.stage_checkpoints(PARAMS, wildcards.scale, getattr(wildcards, "stage", "online"))


def get_merge_weights(wildcards):
    return ws.merge_weights(PARAMS)


# ---- targets: the Snakefile's target rules, <kind>_<scale> for every scale of params.yaml
TARGET_KINDS = list(ws.TARGETS)


def targets_of(kind, scale):
    return ws.TARGETS[kind](PARAMS, scale)


def scale_targets(scale):
    return [f for kind in TARGET_KINDS for f in targets_of(kind, scale)]
