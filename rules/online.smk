# Online iterative DPO per family: iteration {it} samples k completions per prompt from the current
# policy (the family's DPO model, then the previous iteration's), the arbiter scores them, best vs
# worst become pairs, and DPO continues the policy with the family's DPO model as fixed reference.


rule sample_policy:
    input:
        prompts=L.PROMPTS,
        policy=get_policy,
    output:
        samples=L.ONLINE_SAMPLES,
    log:
        "logs/{scale}/sample_policy/{family}/it{it}/{lang}.log",
    benchmark:
        "benchmarks/{scale}/sample_policy/{family}/it{it}/{lang}.tsv"
    priority: CRITICAL
    conda:
        "../envs/vllm.yaml"
    threads: threads_for("generate")
    resources:
        **resources_for("generate"),
    params:
        code=code_fingerprint("../scripts/sample_policy.py"),
        load=get_checkpoint_load,
        generation=from_params(ws.sampling),
        samples=scale_value("online.samples_per_prompt"),
        gpus=get_gpus("generate"),
        seed=from_params(ws.online_seed, "it"),
    script:
        "../scripts/sample_policy.py"


# the same scoring as score_arbiter, on the policy's samples
use rule score_arbiter as score_policy with:
    input:
        generations=L.ONLINE_SAMPLES,
        prompts=L.PROMPTS,
        reward_model=get_reward_model,
    output:
        scores=L.ONLINE_SCORES,
    log:
        "logs/{scale}/score_policy/{family}/it{it}/{lang}.log",
    benchmark:
        "benchmarks/{scale}/score_policy/{family}/it{it}/{lang}.tsv"


rule build_online_pairs:
    input:
        scores=L.ONLINE_SCORES,
        prompts=L.PROMPTS,
    output:
        pairs=L.ONLINE_PAIRS,
    log:
        "logs/{scale}/build_online_pairs/{family}/it{it}/{lang}.log",
    priority: CRITICAL
    group:
        "online_pairs_{family}_it{it}"
    conda:
        "../envs/data.yaml"
    threads: threads_for("default")
    resources:
        **resources_for("default"),
    params:
        code=code_fingerprint("../scripts/build_online_pairs.py"),
        min_margin=scale_value("online.min_margin"),
    script:
        "../scripts/build_online_pairs.py"


rule train_online_dpo:
    input:
        pairs=family_files(L.ONLINE_PAIRS),
        prompts=family_files(L.PROMPTS),
        policy=get_policy,
        reference=get_stage_start("online"),
    output:
        checkpoint=directory(L.fill(L.CHECKPOINT, stage="online_it{it}")),
        metrics=L.fill(L.CHECKPOINT_METRICS, stage="online_it{it}"),
    log:
        "logs/{scale}/train_online_dpo/{family}/it{it}.log",
    benchmark:
        "benchmarks/{scale}/train_online_dpo/{family}/it{it}.tsv"
    priority: CRITICAL
    conda:
        "../envs/train.yaml"
    threads: threads_for("dpo")
    resources:
        **resources_for("dpo"),
    params:
        code=code_fingerprint("../scripts/train_online_dpo.py"),
        load=get_checkpoint_load,
        training=scale_value("online.dpo"),
        launch=scale_value("launch"),
        gpus=get_gpus("dpo"),
        nodes=get_nodes("dpo"),
        work_dir=L.fill(L.RESUME, stage="online_it{it}"),
        seed=get_seed,
    script:
        "../scripts/train_online_dpo.py"


rule summarize_training:
    input:
        metrics=from_params(ws.training_metrics),
        online_scores=from_params(ws.online_scores),
        prompts=L.every(L.PROMPTS, "lang", LANGS),
    output:
        summary=L.TRAINING_SUMMARY,
    log:
        "logs/{scale}/summarize_training.log",
    conda:
        "../envs/data.yaml"
    threads: threads_for("default")
    resources:
        **resources_for("default"),
    params:
        code=code_fingerprint("../scripts/summarize_training.py"),
        families=from_params(ws.languages_by_family),
        metric_keys=from_params(ws.training_metric_keys),
        score_keys=from_params(ws.online_score_keys),
    script:
        "../scripts/summarize_training.py"
