# Budgeted arbitrage (scales.<scale>.arbitrage.routing: learned): every teacher answers a probe
# sample of a language's prompts, the arbiter scores it, the probe's wins choose the language's
# top_k teachers (routing/{lang}.json), and only they answer the rest. select_arbitrage then picks
# the best completion per prompt from the probe and the rest. With routing: all (the default)
# nothing here runs and every teacher answers every prompt (rules/arbitrage.smk).


rule generate_probe:
    input:
        prompts=L.PROMPTS,
        model=get_teacher_model,
    output:
        generations=L.PROBE_GENERATIONS,
    log:
        "logs/{scale}/generate_probe/{lang}/{teacher}.log",
    benchmark:
        "benchmarks/{scale}/generate_probe/{lang}/{teacher}.tsv"
    priority: CRITICAL
    conda:
        "../envs/vllm.yaml"
    threads: threads_for("generate")
    resources:
        **resources_for("generate"),
    params:
        code=code_fingerprint("../scripts/generate_probe.py"),
        teacher=get_teacher_ref,
        generation=scale_value("generation"),
        probe=get_probe,
        gpus=get_gpus("generate"),
        seed=get_seed,
    script:
        "../scripts/generate_probe.py"


# the same scoring as score_arbiter (scripts/score_arbiter.py), on a teacher's probe slice
use rule score_arbiter as score_probe with:
    input:
        generations=L.PROBE_GENERATIONS,
        prompts=L.PROMPTS,
        reward_model=get_reward_model,
    output:
        scores=L.PROBE_SCORES,
    log:
        "logs/{scale}/score_probe/{lang}/{teacher}.log",
    benchmark:
        "benchmarks/{scale}/score_probe/{lang}/{teacher}.tsv"


rule route_teachers:
    input:
        scores=from_params(ws.probe_scores, "lang"),
        prompts=L.PROMPTS,
    output:
        routing=L.ROUTING,
    log:
        "logs/{scale}/route_teachers/{lang}.log",
    priority: CRITICAL
    conda:
        "../envs/data.yaml"
    threads: threads_for("default")
    resources:
        **resources_for("default"),
    params:
        code=code_fingerprint("../scripts/route_teachers.py"),
        teachers=from_params(ws.teacher_names),
        top_k=scale_value("arbitrage.top_k"),
        probe=get_probe,
        seed=get_seed,
    script:
        "../scripts/route_teachers.py"


rule generate_routed:
    input:
        prompts=L.PROMPTS,
        routing=L.ROUTING,
        models=from_params(ws.all_teacher_inputs),
    output:
        generations=L.REST_GENERATIONS,
    log:
        "logs/{scale}/generate_routed/{lang}.log",
    benchmark:
        "benchmarks/{scale}/generate_routed/{lang}.tsv"
    priority: CRITICAL
    conda:
        "../envs/vllm.yaml"
    threads: threads_for("generate")
    resources:
        **resources_for("generate"),
    params:
        code=code_fingerprint("../scripts/generate_routed.py"),
        teachers=from_params(ws.teacher_refs),
        generation=scale_value("generation"),
        gpus=get_gpus("generate"),
        seed=get_seed,
    script:
        "../scripts/generate_routed.py"


# the same scoring as score_arbiter, on the routed rest of a language's prompts
use rule score_arbiter as score_routed with:
    input:
        generations=L.REST_GENERATIONS,
        prompts=L.PROMPTS,
        reward_model=get_reward_model,
    output:
        scores=L.REST_SCORES,
    log:
        "logs/{scale}/score_routed/{lang}.log",
    benchmark:
        "benchmarks/{scale}/score_routed/{lang}.tsv"
