# Offline preference pairs from arbitrage: best vs worst completion per prompt.


rule build_pairs:
    input:
        scores=from_params(ws.selection_scores, "lang"),
        prompts=L.PROMPTS,
    output:
        pairs=L.OFFLINE_PAIRS,
    log:
        "logs/{scale}/build_pairs/{lang}.log",
    priority: CRITICAL
    group:
        "arbitrage"
    conda:
        "../envs/data.yaml"
    threads: threads_for("default")
    resources:
        **resources_for("default"),
    params:
        code=code_fingerprint("../scripts/build_pairs.py"),
        pairs=scale_value("pairs"),
    script:
        "../scripts/build_pairs.py"


rule train_dpo:
    input:
        pairs=family_files(L.OFFLINE_PAIRS),
        prompts=family_files(L.PROMPTS),
        sft=get_stage_start("dpo"),
    output:
        checkpoint=directory(L.fill(L.CHECKPOINT, stage="dpo")),
        metrics=L.fill(L.CHECKPOINT_METRICS, stage="dpo"),
    log:
        "logs/{scale}/train_dpo/{family}.log",
    benchmark:
        "benchmarks/{scale}/train_dpo/{family}.tsv"
    priority: CRITICAL
    conda:
        "../envs/train.yaml"
    threads: threads_for("dpo")
    resources:
        **resources_for("dpo"),
    params:
        code=code_fingerprint("../scripts/train_dpo.py"),
        load=get_checkpoint_load,
        training=scale_value("dpo"),
        launch=scale_value("launch"),
        gpus=get_gpus("dpo"),
        nodes=get_nodes("dpo"),
        work_dir=L.fill(L.RESUME, stage="dpo"),
        seed=get_seed,
    script:
        "../scripts/train_dpo.py"
