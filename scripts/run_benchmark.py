"""Rule run_benchmark: one lm-eval benchmark (every configured language it covers) on one model.

snakemake -c1 results/tiny/eval/benchmarks/global_mmlu/merged.json
"""

from expanse.logs import run_script


def main(smk):
    from expanse.evaluation.benchmarks import run_benchmark
    from expanse.evaluation.config import BenchmarkCfg
    from expanse.schema import ModelSource

    p, w = smk.params, smk.wildcards
    run_benchmark(
        smk.output.results,
        name=smk.wildcards.bench,
        model_name=smk.wildcards.model,
        model=ModelSource.model_validate(p.model),
        languages=list(p.languages),
        bench=BenchmarkCfg.of(p.benchmark, f"scales.{w.scale}.eval.benchmarks.{w.bench}"),
        seed=p.seed,
        gpus=p.gpus,
    )


run_script(main, snakemake)  # noqa: F821
