"""Rule generate_probe: one teacher answers a language's probe sample (learned routing).

snakemake -c1 results/tiny/routing/probe/fr/euro.generations.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.arbitrage import generated_prompts, probe_ids
    from expanse.generation import run_generation
    from expanse.generation.config import GenerationCfg
    from expanse.io import read_parquet
    from expanse.schema import ModelSource

    teacher = ModelSource.model_validate(smk.params.teacher)
    prompts = generated_prompts(read_parquet(smk.input.prompts, "prompts"))
    ids = probe_ids(prompts["id"].to_list(), seed=smk.params.seed, **smk.params.probe)
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
        ids=ids,
    )
    print(f"{len(ids)} of {prompts.height} prompts")


run_script(main, snakemake)  # noqa: F821
