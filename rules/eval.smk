# Evaluation: every compared model answers each language's held-out test prompts (prepared from the
# eval file alone, rules/prompts.smk); a judge compares the merged model with each opponent in both
# orders (win-rates with bootstrap intervals); the merged, base and family models run the lm-eval
# benchmarks; lineage records what made every artifact and what it cost; one report gathers it all.


rule generate_eval:
    input:
        prompts=L.EVAL_PROMPTS,
        model=from_params(ws.eval_model_inputs, "model"),
    output:
        answers=L.EVAL_ANSWERS,
    log:
        "logs/{scale}/generate_eval/{lang}/{model}.log",
    benchmark:
        "benchmarks/{scale}/generate_eval/{lang}/{model}.tsv"
    conda:
        "../envs/vllm.yaml"
    threads: threads_for("generate")
    resources:
        **resources_for("generate"),
    params:
        code=code_fingerprint("../scripts/generate_eval.py"),
        model=from_params(ws.eval_model_ref, "model"),
        generation=scale_value("generation"),
        gpus=get_gpus("generate"),
        seed=get_seed,
    script:
        "../scripts/generate_eval.py"


rule judge_pairwise:
    input:
        answers=from_params(ws.eval_answer_files, "lang"),
        prompts=L.EVAL_PROMPTS,
        wins=L.WINS,
        judge_model=from_params(ws.judge_inputs),
    output:
        winrates=L.WINRATE,
        judgements=L.JUDGEMENTS,
    log:
        "logs/{scale}/judge_pairwise/{lang}.log",
    benchmark:
        "benchmarks/{scale}/judge_pairwise/{lang}.tsv"
    conda:
        "../envs/eval.yaml"
    threads: threads_for("judge")
    resources:
        **resources_for("judge"),
    params:
        code=code_fingerprint("../scripts/judge_pairwise.py"),
        models=from_params(ws.eval_models, "lang"),
        opponents=from_params(ws.eval_opponents, "lang"),
        judge=scale_value("eval.judge"),
        judge_model=from_params(ws.judge_ref),
        generation=scale_value("generation"),
        bootstrap=scale_value("eval.bootstrap"),
        gpus=get_gpus("judge"),
        seed=get_seed,
    script:
        "../scripts/judge_pairwise.py"


rule run_benchmark:
    input:
        model=from_params(ws.eval_model_inputs, "model"),
        tasks=from_params(ws.benchmark_files, "bench"),
    output:
        results=L.BENCHMARK_RESULT,
    log:
        "logs/{scale}/run_benchmark/{bench}/{model}.log",
    benchmark:
        "benchmarks/{scale}/run_benchmark/{bench}/{model}.tsv"
    conda:
        "../envs/eval.yaml"
    threads: threads_for("benchmark")
    resources:
        **resources_for("benchmark"),
    params:
        code=code_fingerprint("../scripts/run_benchmark.py"),
        model=from_params(ws.eval_model_ref, "model"),
        benchmark=from_params(ws.benchmark_section, "bench"),
        languages=get_language_codes,
        gpus=get_gpus("benchmark"),
        seed=get_seed,
    script:
        "../scripts/run_benchmark.py"


rule lineage:
    input:
        from_params(ws.lineage_inputs),
    output:
        lineage=L.LINEAGE,
    log:
        "logs/{scale}/lineage.log",
    benchmark:
        "benchmarks/{scale}/lineage.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: threads_for("default")
    resources:
        **resources_for("default"),
    params:
        code=code_fingerprint("../scripts/lineage.py"),
        scale="{scale}",
    script:
        "../scripts/lineage.py"


rule eval_report:
    input:
        winrates=L.every(L.WINRATE, "lang", LANGS),
        benchmarks=from_params(ws.benchmark_result_files),
        arbitrage=L.ARBITRAGE_SUMMARY,
        training=L.TRAINING_SUMMARY,
        metrics=from_params(ws.training_metrics),
        lineage=L.LINEAGE,
        routing=from_params(ws.routing_decisions),
        merge_search=from_params(ws.merge_search),
    output:
        html=report(L.REPORT_HTML, category="Report", labels={"scale": "{scale}"}),
        markdown=L.REPORT_MD,
        metrics=L.REPORT_METRICS,
        winrates=L.WINRATES_CSV,
        accuracy=L.ACCURACY_CSV,
        plots=report(
            directory(L.REPORT_PLOTS),
            patterns=["{name}.png"],
            category="Plots",
            labels={"scale": "{scale}", "plot": "{name}"},
        ),
    log:
        "logs/{scale}/eval_report.log",
    conda:
        "../envs/eval.yaml"
    threads: threads_for("default")
    resources:
        **resources_for("default"),
    params:
        code=code_fingerprint("../scripts/eval_report.py"),
        scale="{scale}",
        metric_keys=from_params(ws.training_metric_keys),
        families=get_family_names,
        family_of=from_params(ws.family_of),
        models=lambda wildcards: ws.benchmark_models(PARAMS, wildcards.scale),
    script:
        "../scripts/eval_report.py"
