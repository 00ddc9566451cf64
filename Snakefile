# expanse: the Aya Expanse post-training recipe (arXiv 2412.04261) as a build graph.
# Wiring only: rules/ declare the artifacts, the expanse package does the work.
from snakemake.utils import min_version

min_version("9.0")

# params.yaml is data: the project's strict loader reads it before Snakemake does and stops at a
# templating switch, a python tag or a syntax error with one line naming file:line.
from expanse.workflow_support import check_config_file

check_config_file("params.yaml")


configfile: "params.yaml"


include: "rules/common.smk"
include: "rules/tiny.smk"
include: "rules/prompts.smk"
include: "rules/arbitrage.smk"
include: "rules/routing.smk"
include: "rules/preference.smk"
include: "rules/sft.smk"
include: "rules/online.smk"
include: "rules/merge.smk"
include: "rules/eval.smk"


rule all:
    default_target: True
    input:
        arbitrage_targets("tiny"),
        training_targets("tiny"),
        merged_targets("tiny"),
        eval_targets("tiny"),


rule arbitrage_tiny:
    input:
        arbitrage_targets("tiny"),


rule arbitrage_8b:
    input:
        arbitrage_targets("8b"),


rule arbitrage_32b:
    input:
        arbitrage_targets("32b"),


rule train_tiny:
    input:
        training_targets("tiny"),


rule train_8b:
    input:
        training_targets("8b"),


rule train_32b:
    input:
        training_targets("32b"),


rule merged_tiny:
    input:
        merged_targets("tiny"),


rule merged_8b:
    input:
        merged_targets("8b"),


rule merged_32b:
    input:
        merged_targets("32b"),


rule eval_tiny:
    input:
        eval_targets("tiny"),


rule eval_8b:
    input:
        eval_targets("8b"),


rule eval_32b:
    input:
        eval_targets("32b"),


# Every rule is defined: refuse resource names the slurm executor would map wrong (gpus, tasks, ...).
check_rule_resources()
# ... and every rule with a script passes its code fingerprint (an edit to a module reruns its jobs).
check_code_params()
# ... and Snakemake reads each input and params function's parameters once, not once per call.
bind_signatures()
