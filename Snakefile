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


# Targets: `all` (the default) builds the first scale of params.yaml's `scales:`; every scale gets
# arbitrage_<scale>, train_<scale>, merged_<scale> and eval_<scale>, so a scale added to params.yaml
# has its targets with no other edit.
rule all:
    default_target: True
    input:
        scale_targets(SCALES[0]),


for _scale in SCALES:
    for _kind in TARGET_KINDS:

        rule:
            name:
                f"{_kind}_{_scale}"
            input:
                targets_of(_kind, _scale),


# Every rule is defined: refuse resource names the slurm executor would map wrong (gpus, tasks, ...).
check_rule_resources()
# ... and every rule with a script passes its code fingerprint (an edit to a module reruns its jobs).
check_code_params()
# ... and Snakemake reads each input and params function's parameters once, not once per call.
bind_signatures()
