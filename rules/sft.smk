# Supervised fine-tuning per language family on the arbitraged rows of its languages.


rule train_sft:
    input:
        arbitrage=family_files(L.ARBITRAGE),
        prompts=family_files(L.PROMPTS),
        base=from_params(ws.model_inputs, role="base"),
    output:
        checkpoint=directory(L.fill(L.CHECKPOINT, stage="sft")),
        metrics=L.fill(L.CHECKPOINT_METRICS, stage="sft"),
    log:
        "logs/{scale}/train_sft/{family}.log",
    benchmark:
        "benchmarks/{scale}/train_sft/{family}.tsv"
    priority: CRITICAL
    conda:
        "../envs/train.yaml"
    threads: threads_for("sft")
    resources:
        **resources_for("sft"),
    params:
        code=code_fingerprint("../scripts/train_sft.py"),
        model=from_params(ws.model_ref, role="base"),
        training=scale_value("sft"),
        launch=scale_value("launch"),
        gpus=get_gpus("sft"),
        nodes=get_nodes("sft"),
        work_dir=L.fill(L.RESUME, stage="sft"),
        seed=get_seed,
    script:
        "../scripts/train_sft.py"
