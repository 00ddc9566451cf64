"""Rule summarize_training: per family, what each stage did (held-out loss, reward margins) and the
arbiter's mean score of the policy's own samples at each online iteration.

snakemake -c1 results/tiny/checkpoints/summary.json
"""

from expanse.logs import run_script


def main(smk):
    from expanse.training.summary import summarize

    summarize(
        list(smk.input.metrics),
        list(smk.input.online_scores),
        list(smk.input.prompts),
        smk.output.summary,
        families=smk.params.families,
    )


run_script(main, snakemake)  # noqa: F821
