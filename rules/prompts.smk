# Validate, deduplicate and split one language's prompts (train/dev from its prompt file, test
# from its held-out eval file).


rule prepare_prompts:
    input:
        unpack(get_prompt_files),
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
        language=get_language_params,
        prompts=scale_value("prompts"),
        seed=get_seed,
    script:
        "../scripts/prepare_prompts.py"
