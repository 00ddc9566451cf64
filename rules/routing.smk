# Budgeted arbitrage (scales.<scale>.arbitrage.routing: learned): every teacher answers a probe
# sample of a language's prompts, the arbiter scores it, the probe's wins choose the language's
# top_k teachers (routing/{lang}.json), and only they answer the rest. select_arbitrage then picks
# the best completion per prompt from the probe and the rest. With routing: all (the default)
# nothing here runs and every teacher answers every prompt (rules/arbitrage.smk).


rule generate_probe:
    input:
        prompts="results/{scale}/prompts/{lang}.parquet",
        model=get_teacher_model,
    output:
        generations="results/{scale}/routing/probe/{lang}/{teacher}.generations.parquet",
    log:
        "logs/{scale}/generate_probe/{lang}/{teacher}.log",
    benchmark:
        "benchmarks/{scale}/generate_probe/{lang}/{teacher}.tsv"
    priority: CRITICAL
    conda:
        "../envs/vllm.yaml"
    threads: threads_for("generate")
    resources:
        **resources_for("generate"),
    params:
        code=code_fingerprint("../scripts/generate_probe.py"),
        teacher=get_teacher_ref,
        generation=get_scale_section("generation"),
        probe=get_probe,
        gpus=get_gpus("generate"),
        seed=get_seed,
    script:
        "../scripts/generate_probe.py"


rule score_probe:
    input:
        generations="results/{scale}/routing/probe/{lang}/{teacher}.generations.parquet",
        prompts="results/{scale}/prompts/{lang}.parquet",
        reward_model=get_reward_model,
    output:
        scores="results/{scale}/routing/probe/{lang}/{teacher}.scores.parquet",
    log:
        "logs/{scale}/score_probe/{lang}/{teacher}.log",
    benchmark:
        "benchmarks/{scale}/score_probe/{lang}/{teacher}.tsv"
    priority: CRITICAL
    conda:
        "../envs/train.yaml"
    threads: threads_for("score")
    resources:
        **resources_for("score"),
    params:
        code=code_fingerprint("../scripts/score_probe.py"),
        arbiter=get_scale_section("arbiter"),
        reward_model=get_reward_model_ref,
        gpus=get_gpus("score"),
    script:
        "../scripts/score_probe.py"


rule route_teachers:
    input:
        scores=get_probe_scores,
        prompts="results/{scale}/prompts/{lang}.parquet",
    output:
        routing="results/{scale}/routing/{lang}.json",
    log:
        "logs/{scale}/route_teachers/{lang}.log",
    priority: CRITICAL
    conda:
        "../envs/data.yaml"
    threads: threads_for("default")
    resources:
        **resources_for("default"),
    params:
        code=code_fingerprint("../scripts/route_teachers.py"),
        teachers=get_teacher_names,
        top_k=get_routing("top_k"),
        probe=get_probe,
        seed=get_seed,
    script:
        "../scripts/route_teachers.py"


rule generate_routed:
    input:
        prompts="results/{scale}/prompts/{lang}.parquet",
        routing="results/{scale}/routing/{lang}.json",
        models=get_all_teacher_models,
    output:
        generations="results/{scale}/routing/rest/{lang}.generations.parquet",
    log:
        "logs/{scale}/generate_routed/{lang}.log",
    benchmark:
        "benchmarks/{scale}/generate_routed/{lang}.tsv"
    priority: CRITICAL
    conda:
        "../envs/vllm.yaml"
    threads: threads_for("generate")
    resources:
        **resources_for("generate"),
    params:
        code=code_fingerprint("../scripts/generate_routed.py"),
        teachers=get_teacher_refs,
        generation=get_scale_section("generation"),
        gpus=get_gpus("generate"),
        seed=get_seed,
    script:
        "../scripts/generate_routed.py"


rule score_routed:
    input:
        generations="results/{scale}/routing/rest/{lang}.generations.parquet",
        prompts="results/{scale}/prompts/{lang}.parquet",
        reward_model=get_reward_model,
    output:
        scores="results/{scale}/routing/rest/{lang}.scores.parquet",
    log:
        "logs/{scale}/score_routed/{lang}.log",
    benchmark:
        "benchmarks/{scale}/score_routed/{lang}.tsv"
    priority: CRITICAL
    conda:
        "../envs/train.yaml"
    threads: threads_for("score")
    resources:
        **resources_for("score"),
    params:
        code=code_fingerprint("../scripts/score_routed.py"),
        arbiter=get_scale_section("arbiter"),
        reward_model=get_reward_model_ref,
        gpus=get_gpus("score"),
    script:
        "../scripts/score_routed.py"
