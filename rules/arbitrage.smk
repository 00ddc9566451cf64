# Data arbitrage: every teacher answers every training prompt of a language, the arbiter scores
# each completion, the best valid one per prompt becomes SFT data.


rule generate_teacher:
    input:
        prompts=L.PROMPTS,
        model=get_teacher_model,
    output:
        generations=L.GENERATIONS,
    log:
        "logs/{scale}/generate_teacher/{lang}/{teacher}.log",
    benchmark:
        "benchmarks/{scale}/generate_teacher/{lang}/{teacher}.tsv"
    priority: CRITICAL
    conda:
        "../envs/vllm.yaml"
    threads: threads_for("generate")
    resources:
        **resources_for("generate"),
    params:
        code=code_fingerprint("../scripts/generate_teacher.py"),
        teacher=get_teacher_ref,
        generation=scale_value("generation"),
        gpus=get_gpus("generate"),
        seed=get_seed,
    script:
        "../scripts/generate_teacher.py"


rule score_arbiter:
    input:
        generations=L.GENERATIONS,
        prompts=L.PROMPTS,
        reward_model=get_reward_model,
    output:
        scores=L.SCORES,
    log:
        "logs/{scale}/score_arbiter/{lang}/{teacher}.log",
    benchmark:
        "benchmarks/{scale}/score_arbiter/{lang}/{teacher}.tsv"
    priority: CRITICAL
    conda:
        "../envs/train.yaml"
    threads: threads_for("score")
    resources:
        **resources_for("score"),
    params:
        code=code_fingerprint("../scripts/score_arbiter.py"),
        arbiter=scale_value("arbiter"),
        reward_model=get_reward_model_ref,
        gpus=get_gpus("score"),
    script:
        "../scripts/score_arbiter.py"


rule select_arbitrage:
    input:
        scores=from_params(ws.selection_scores, "lang"),
        prompts=L.PROMPTS,
    output:
        sft=L.ARBITRAGE,
        wins=L.WINS,
    log:
        "logs/{scale}/select_arbitrage/{lang}.log",
    priority: CRITICAL
    group:
        "arbitrage"
    conda:
        "../envs/data.yaml"
    threads: threads_for("default")
    resources:
        **resources_for("default"),
    params:
        code=code_fingerprint("../scripts/select_arbitrage.py"),
    script:
        "../scripts/select_arbitrage.py"


rule summarize_arbitrage:
    input:
        wins=L.every(L.WINS, "lang", LANGS),
    output:
        summary=L.ARBITRAGE_SUMMARY,
    log:
        "logs/{scale}/summarize_arbitrage.log",
    conda:
        "../envs/data.yaml"
    threads: threads_for("default")
    resources:
        **resources_for("default"),
    params:
        code=code_fingerprint("../scripts/summarize_arbitrage.py"),
    script:
        "../scripts/summarize_arbitrage.py"
