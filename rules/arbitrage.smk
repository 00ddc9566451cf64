# Data arbitrage: every teacher answers every training prompt of a language, the arbiter scores
# each completion, the best valid one per prompt becomes SFT data.


rule generate_teacher:
    priority: CRITICAL
    input:
        prompts="results/{scale}/prompts/{lang}.parquet",
        model=get_teacher_model,
    output:
        generations="results/{scale}/generations/{lang}/{teacher}.parquet",
    log:
        "logs/{scale}/generate_teacher/{lang}/{teacher}.log",
    benchmark:
        "benchmarks/{scale}/generate_teacher/{lang}/{teacher}.tsv"
    params:
        code=code_fingerprint("../scripts/generate_teacher.py"),
        teacher=get_teacher_ref,
        generation=get_scale_section("generation"),
        gpus=get_gpus("generate"),
        seed=get_seed,
    resources:
        **resources_for("generate"),
    threads: threads_for("generate")
    conda:
        "../envs/vllm.yaml"
    script:
        "../scripts/generate_teacher.py"


rule score_arbiter:
    priority: CRITICAL
    input:
        generations="results/{scale}/generations/{lang}/{teacher}.parquet",
        prompts="results/{scale}/prompts/{lang}.parquet",
        reward_model=get_reward_model,
    output:
        scores="results/{scale}/scores/{lang}/{teacher}.parquet",
    log:
        "logs/{scale}/score_arbiter/{lang}/{teacher}.log",
    benchmark:
        "benchmarks/{scale}/score_arbiter/{lang}/{teacher}.tsv"
    params:
        code=code_fingerprint("../scripts/score_arbiter.py"),
        arbiter=get_scale_section("arbiter"),
        reward_model=get_reward_model_ref,
        gpus=get_gpus("score"),
    resources:
        **resources_for("score"),
    threads: threads_for("score")
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/score_arbiter.py"


rule select_arbitrage:
    priority: CRITICAL
    input:
        scores=get_lang_scores,
        prompts="results/{scale}/prompts/{lang}.parquet",
    output:
        sft="results/{scale}/arbitrage/{lang}.parquet",
        wins="results/{scale}/arbitrage/{lang}.wins.json",
    log:
        "logs/{scale}/select_arbitrage/{lang}.log",
    params:
        code=code_fingerprint("../scripts/select_arbitrage.py"),
    group:
        "arbitrage"
    resources:
        **resources_for("default"),
    threads: threads_for("default")
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/select_arbitrage.py"


rule summarize_arbitrage:
    input:
        wins=expand("results/{{scale}}/arbitrage/{lang}.wins.json", lang=LANGS),
    output:
        summary="results/{scale}/arbitrage/summary.json",
    log:
        "logs/{scale}/summarize_arbitrage.log",
    params:
        code=code_fingerprint("../scripts/summarize_arbitrage.py"),
    resources:
        **resources_for("default"),
    threads: threads_for("default")
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/summarize_arbitrage.py"
