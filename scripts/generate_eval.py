"""Rule generate_eval: one model (merged, base, a family's or a teacher) answers one language's
held-out test prompts.

snakemake -c1 results/tiny/eval/answers/fr/merged.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.generation import run_generation
    from expanse.generation.config import GenerationCfg
    from expanse.schema import ModelSource

    model = ModelSource.model_validate(smk.params.model)
    run_generation(
        smk.input.prompts,
        smk.output.answers,
        lang=smk.wildcards.lang,
        model_name=smk.wildcards.model,
        location=model.location,
        load=model.load,
        generation=GenerationCfg.of(smk.params.generation, f"scales.{smk.wildcards.scale}.generation"),
        samples=1,
        seed=smk.params.seed,
        gpus=smk.params.gpus,
        splits=("test",),
    )


run_script(main, snakemake)  # noqa: F821
