# Supervised fine-tuning per language family on the arbitraged rows of its languages.


rule train_sft:
    input:
        arbitrage=family_files("results/{scale}/arbitrage/{lang}.parquet"),
        prompts=family_files("results/{scale}/prompts/{lang}.parquet"),
        base=get_base_model,
    output:
        checkpoint=directory("results/{scale}/checkpoints/{family}/sft"),
        metrics="results/{scale}/checkpoints/{family}/sft.metrics.json",
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
        model=get_base_ref,
        training=get_scale_section("sft"),
        launch=get_scale_section("launch"),
        gpus=get_gpus("sft"),
        nodes=get_nodes("sft"),
        work_dir="results/{scale}/resume/{family}/sft",
        seed=get_seed,
    script:
        "../scripts/train_sft.py"
