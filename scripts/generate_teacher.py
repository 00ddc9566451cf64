"""Rule generate_teacher: one teacher answers one language's training prompts.

snakemake -c1 results/tiny/generations/fr/euro.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.generation import run_generation
    from expanse.generation.config import GenerationCfg
    from expanse.schema import ModelSource

    teacher = ModelSource.model_validate(smk.params.teacher)
    run_generation(
        smk.input.prompts,
        smk.output.generations,
        lang=smk.wildcards.lang,
        model_name=smk.wildcards.teacher,
        location=teacher.location,
        load=teacher.load,
        generation=GenerationCfg.of(smk.params.generation, f"scales.{smk.wildcards.scale}.generation"),
        samples=1,
        seed=smk.params.seed,
        gpus=smk.params.gpus,
        splits=("train", "dev"),
    )


run_script(main, snakemake)  # noqa: F821
