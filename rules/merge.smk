# Weighted merge of the family checkpoints (streaming safetensors, CPU): the merged model after the
# last online iteration, and, where merge.after lists sft or dpo, the merge the next stage of every
# family starts from. With merge.search enabled, a search over the family weights (scored by the
# arbiter on every language's dev prompts) chooses the final merge's weights.


rule search_merge_weights:
    priority: CRITICAL
    input:
        checkpoints=get_stage_checkpoints,
        base=get_merge_base,
        prompts=expand("results/{{scale}}/prompts/{lang}.parquet", lang=LANGS),
        reward_model=get_reward_model,
    output:
        search="results/{scale}/merge_search.json",
    log:
        "logs/{scale}/search_merge_weights.log",
    benchmark:
        "benchmarks/{scale}/search_merge_weights.tsv"
    params:
        code=code_fingerprint("../scripts/search_merge_weights.py"),
        merge=get_merge_cfg,
        search=get_merge_search_cfg,
        weights=get_merge_weights,
        families=get_family_names,
        base=get_merge_base_ref,
        generation=get_scale_section("generation"),
        arbiter=get_scale_section("arbiter"),
        reward_model=get_reward_model_ref,
        load=get_checkpoint_load,
        gpus=get_gpus("generate"),
        seed=get_seed,
    resources:
        **resources_for("generate"),
    threads: threads_for("generate")
    conda:
        "../envs/vllm.yaml"
    script:
        "../scripts/search_merge_weights.py"


rule merge_families:
    priority: CRITICAL
    input:
        checkpoints=get_stage_checkpoints,
        base=get_merge_base,
        search=get_merge_search,
    output:
        merged=directory("results/{scale}/merged"),
    log:
        "logs/{scale}/merge_families.log",
    benchmark:
        "benchmarks/{scale}/merge_families.tsv"
    params:
        code=code_fingerprint("../scripts/merge_families.py"),
        merge=get_merge_cfg,
        weights=get_merge_weights,
        families=get_family_names,
        base=get_merge_base_ref,
    resources:
        **resources_for("merge"),
    threads: threads_for("merge")
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/merge_families.py"


rule merge_stage:
    priority: CRITICAL
    input:
        checkpoints=get_stage_checkpoints,
        base=get_merge_base,
    output:
        merged=directory("results/{scale}/merges/{stage}"),
    log:
        "logs/{scale}/merge_stage/{stage}.log",
    benchmark:
        "benchmarks/{scale}/merge_stage/{stage}.tsv"
    params:
        code=code_fingerprint("../scripts/merge_stage.py"),
        merge=get_merge_cfg,
        weights=get_merge_weights,
        families=get_family_names,
        base=get_merge_base_ref,
    resources:
        **resources_for("merge"),
    threads: threads_for("merge")
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/merge_stage.py"
