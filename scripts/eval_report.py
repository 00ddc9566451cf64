"""Rule eval_report: report.html (self-contained), report.md, metrics.json, the CSV tables and the
plots of one scale's evaluation.

snakemake -c1 results/tiny/eval/report.html
"""

from expanse.logs import run_script


def main(smk):
    from expanse.evaluation.report import write_report

    i, o, p = smk.input, smk.output, smk.params
    write_report(
        scale=p.scale,
        out_html=o.html,
        out_md=o.markdown,
        out_metrics=o.metrics,
        out_winrates=o.winrates,
        out_accuracy=o.accuracy,
        out_plots=o.plots,
        winrate_paths=list(i.winrates),
        benchmark_paths=list(i.benchmarks),
        arbitrage_path=i.arbitrage,
        training_path=i.training,
        metrics=[(k["family"], k["stage"], path) for k, path in zip(p.metric_keys, i.metrics, strict=True)],
        family_of=dict(p.family_of),
        families=list(p.families),
        models=list(p.models),
        lineage_path=i.lineage,
        routing_paths=list(i.routing),
        merge_search_paths=list(i.merge_search),
    )


run_script(main, snakemake)  # noqa: F821
