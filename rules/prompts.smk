# Validate, deduplicate and split one language's prompts (train/dev from its prompt file, test
# from its held-out eval file).


rule prepare_prompts:
    input:
        unpack(from_params(ws.prompt_files, "lang")),
    output:
        prompts=L.PROMPTS,
    log:
        "logs/{scale}/prepare_prompts/{lang}.log",
    priority: CRITICAL
    group:
        "prompts"
    conda:
        "../envs/data.yaml"
    threads: threads_for("default")
    resources:
        **resources_for("default"),
    params:
        code=code_fingerprint("../scripts/prepare_prompts.py"),
        language=from_params(ws.language_section, "lang"),
        prompts=scale_value("prompts"),
        seed=get_seed,
    script:
        "../scripts/prepare_prompts.py"


# The test split on its own, from the eval file alone: the eval answers and judges read this, so an
# edit to a language's training prompts does not make every model answer its test prompts again.
rule prepare_eval_prompts:
    input:
        unpack(from_params(ws.eval_prompt_file, "lang")),
    output:
        prompts=L.EVAL_PROMPTS,
    log:
        "logs/{scale}/prepare_eval_prompts/{lang}.log",
    group:
        "prompts"
    conda:
        "../envs/data.yaml"
    threads: threads_for("default")
    resources:
        **resources_for("default"),
    params:
        code=code_fingerprint("../scripts/prepare_eval_prompts.py"),
        max_prompt_chars=scale_value("prompts.max_prompt_chars"),
    script:
        "../scripts/prepare_eval_prompts.py"
