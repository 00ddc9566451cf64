# Offline preference pairs from arbitrage: best vs worst completion per prompt.


rule build_pairs:
    input:
        scores=get_lang_scores,
        prompts="results/{scale}/prompts/{lang}.parquet",
    output:
        pairs="results/{scale}/pairs/offline/{lang}.parquet",
    log:
        "logs/{scale}/build_pairs/{lang}.log",
    params:
        pairs=get_scale_section("pairs"),
    resources:
        **resources_for("default"),
    threads: threads_for("default")
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/build_pairs.py"
