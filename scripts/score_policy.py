"""Rule score_policy: the arbiter scores the policy's samples of one language at iteration {it}.

snakemake -c1 results/tiny/online/romance/it1/scores/fr.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.arbiter import run_scoring

    run_scoring(
        smk.input.samples,
        smk.input.prompts,
        smk.output.scores,
        arbiter=smk.params.arbiter,
        reward_model=smk.params.reward_model,
        gpus=smk.params.gpus,
    )


run_script(main, snakemake)  # noqa: F821
