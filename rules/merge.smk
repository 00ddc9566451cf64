# Weighted merge of the family checkpoints (streaming safetensors, CPU): the merged model after the
# last online iteration, and, where merge.after lists sft or dpo, the merge the next stage of every
# family starts from. With merge.search enabled, a search over the family weights (scored by the
# arbiter on every language's dev prompts) chooses the final merge's weights.


rule search_merge_weights:
    input:
        checkpoints=get_stage_checkpoints,
        base=from_params(ws.merge_base),
        prompts=L.every(L.PROMPTS, "lang", LANGS),
        reward_model=get_reward_model,
    output:
        search=L.MERGE_SEARCH,
    log:
        "logs/{scale}/search_merge_weights.log",
    benchmark:
        "benchmarks/{scale}/search_merge_weights.tsv"
    priority: CRITICAL
    conda:
        "../envs/vllm.yaml"
    threads: threads_for("generate")
    resources:
        **resources_for("generate"),
    params:
        code=code_fingerprint("../scripts/search_merge_weights.py"),
        merge=scale_value("merge", exclude={"search"}),
        search=scale_value("merge.search"),
        weights=get_merge_weights,
        families=get_family_names,
        base=from_params(ws.merge_base_ref),
        generation=scale_value("generation"),
        arbiter=scale_value("arbiter"),
        reward_model=get_reward_model_ref,
        load=get_checkpoint_load,
        gpus=get_gpus("generate"),
        seed=get_seed,
    script:
        "../scripts/search_merge_weights.py"


rule merge_families:
    input:
        checkpoints=get_stage_checkpoints,
        base=from_params(ws.merge_base),
        search=from_params(ws.merge_search),
    output:
        merged=directory(L.MERGED),
    log:
        "logs/{scale}/merge_families.log",
    benchmark:
        "benchmarks/{scale}/merge_families.tsv"
    priority: CRITICAL
    conda:
        "../envs/train.yaml"
    threads: threads_for("merge")
    resources:
        **resources_for("merge"),
    params:
        code=code_fingerprint("../scripts/merge_families.py"),
        merge=scale_value("merge", exclude={"search"}),
        weights=get_merge_weights,
        families=get_family_names,
        base=from_params(ws.merge_base_ref),
    script:
        "../scripts/merge_families.py"


# a stage merge (merge.after: sft / dpo) is the same job without the search: the hand-set weights
use rule merge_families as merge_stage with:
    input:
        checkpoints=get_stage_checkpoints,
        base=from_params(ws.merge_base),
    output:
        merged=directory(L.STAGE_MERGE),
    log:
        "logs/{scale}/merge_stage/{stage}.log",
    benchmark:
        "benchmarks/{scale}/merge_stage/{stage}.tsv"
