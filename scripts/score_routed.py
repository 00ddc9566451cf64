"""Rule score_routed: the arbiter scores a language's routed completions (learned routing).

snakemake -c1 results/tiny/routing/rest/fr.scores.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.arbiter import run_scoring

    run_scoring(
        smk.input.generations,
        smk.input.prompts,
        smk.output.scores,
        arbiter=smk.params.arbiter,
        reward_model=smk.params.reward_model,
        gpus=smk.params.gpus,
    )


run_script(main, snakemake)  # noqa: F821
