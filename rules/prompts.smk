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
