# Load and validate params.yaml, constrain wildcards, and the get_* / resources helpers the rules
# use. Logic lives in the expanse package; this file only wires.
import sys

from expanse import workflow_support as ws
from expanse.errors import ExpanseError

try:
    for _configfile in workflow.configfiles:
        ws.check_yaml(_configfile)
    PARAMS = ws.validate(config)
except ExpanseError as _e:
    sys.exit(f"error: {_e}")

SCALES = list(PARAMS.scales)
LANGS = list(PARAMS.languages)
FAMILIES = list(PARAMS.families)


wildcard_constraints:
    scale=ws.alternation(SCALES),
    lang=ws.alternation(LANGS),
    teacher=ws.alternation(ws.all_teachers(PARAMS)),
    family=ws.alternation(FAMILIES),


def scale_of(wildcards):
    return PARAMS.scales[wildcards.scale]


def resources_for(key):
    """Rule resources from scales.<scale>.resources.<key> (falling back to .default)."""
    return ws.resource_callables(PARAMS, key)


def threads_for(key):
    return ws.threads_callable(PARAMS, key)


# ---- inputs
def get_prompt_files(wildcards):
    lang = PARAMS.languages[wildcards.lang]
    return {"prompts": lang.prompts, "eval_prompts": lang.eval_prompts}


def get_teacher_model(wildcards):
    return ws.model_inputs(PARAMS, wildcards.scale, f"teachers.{wildcards.teacher}")


def get_reward_model(wildcards):
    return ws.model_inputs(PARAMS, wildcards.scale, "reward_model") if ws.needs_reward_model(PARAMS, wildcards.scale) else []


def get_tiny_init(wildcards):
    return ws.tiny_init_inputs(PARAMS, wildcards.scale, f"teachers.{wildcards.teacher}")


def get_lang_scores(wildcards):
    return expand("results/{scale}/scores/{lang}/{teacher}.parquet", scale=wildcards.scale, lang=wildcards.lang,
                  teacher=list(scale_of(wildcards).teachers))


def get_tiny_teachers(wildcards):
    return expand("results/{scale}/models/teachers/{teacher}", scale=wildcards.scale,
                  teacher=ws.tiny_teachers(PARAMS, wildcards.scale))


# ---- params: only the values a job uses, so editing one language or teacher reruns only its jobs
def get_language_params(wildcards):
    return PARAMS.languages[wildcards.lang].model_dump()


def get_teacher_ref(wildcards):
    return ws.model_ref(PARAMS, wildcards.scale, f"teachers.{wildcards.teacher}")


def get_reward_model_ref(wildcards):
    return ws.model_ref(PARAMS, wildcards.scale, "reward_model") if ws.needs_reward_model(PARAMS, wildcards.scale) else None


def get_tiny_spec(role):
    def spec(wildcards):
        return ws.tiny_spec(PARAMS, wildcards.scale, role if role != "teacher" else f"teachers.{wildcards.teacher}")

    return spec


def get_scale_section(section):
    def value(wildcards):
        return getattr(scale_of(wildcards), section).model_dump()

    return value


def get_tiny_build(section):
    def value(wildcards):
        return ws.tiny_build(PARAMS, wildcards.scale)[section]

    return value


def get_gpus(key):
    def gpus(wildcards):
        return ws.resources(PARAMS, wildcards.scale, key).gpu

    return gpus


# ---- targets
def arbitrage_targets(scale):
    return ws.arbitrage_targets(PARAMS, scale)
