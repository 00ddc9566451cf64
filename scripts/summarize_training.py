"""Rule summarize_training: per family, what each stage did (held-out loss, reward margins) and the
arbiter's mean score of the policy's own samples at each online iteration.

snakemake -c1 results/tiny/checkpoints/summary.json
"""

from expanse.logs import run_script


def main(smk):
    from expanse.training.summary import summarize

    p = smk.params
    summarize(
        [(k["family"], k["stage"], path) for k, path in zip(p.metric_keys, smk.input.metrics, strict=True)],
        [(k["family"], k["it"], path) for k, path in zip(p.score_keys, smk.input.online_scores, strict=True)],
        list(smk.input.prompts),
        smk.output.summary,
        families=p.families,
    )


run_script(main, snakemake)  # noqa: F821
