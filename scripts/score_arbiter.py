"""Rule score_arbiter: the arbiter scores one teacher's completions for one language.

snakemake -c1 results/tiny/scores/fr/euro.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.arbiter import run_scoring
    from expanse.arbiter.config import ArbiterCfg
    from expanse.schema import ModelSource

    run_scoring(
        smk.input.generations,
        smk.input.prompts,
        smk.output.scores,
        arbiter=ArbiterCfg.of(smk.params.arbiter, f"scales.{smk.wildcards.scale}.arbiter"),
        reward_model=ModelSource.model_validate(rm) if (rm := smk.params.reward_model) else None,
        gpus=smk.params.gpus,
    )


run_script(main, snakemake)  # noqa: F821
