# Weighted merge of the family checkpoints (streaming safetensors, CPU): the merged model after the
# last online iteration, and, where merge.after lists sft or dpo, the merge the next stage of every
# family starts from.


rule merge_families:
    input:
        checkpoints=get_stage_checkpoints,
        base=get_merge_base,
    output:
        merged=directory("results/{scale}/merged"),
    log:
        "logs/{scale}/merge_families.log",
    benchmark:
        "benchmarks/{scale}/merge_families.tsv"
    params:
        merge=get_scale_section("merge"),
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
        merge=get_scale_section("merge"),
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
