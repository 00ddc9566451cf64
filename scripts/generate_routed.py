"""Rule generate_routed: the teachers routing selected for a language answer the rest of its prompts.

snakemake -c1 results/tiny/routing/rest/fr.generations.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.arbitrage import rest_ids
    from expanse.generation import run_routed_generation
    from expanse.generation.config import GenerationCfg
    from expanse.io import read_json, read_parquet
    from expanse.schema import ModelSource

    routing = read_json(smk.input.routing, "routing")
    ids = rest_ids(read_parquet(smk.input.prompts, "prompts"), routing)
    teachers = {name: ModelSource.model_validate(smk.params.teachers[name]) for name in routing["selected"]}
    run_routed_generation(
        smk.input.prompts,
        smk.output.generations,
        lang=smk.wildcards.lang,
        teachers=teachers,
        ids=ids,
        generation=GenerationCfg.of(smk.params.generation, f"scales.{smk.wildcards.scale}.generation"),
        seed=smk.params.seed,
        gpus=smk.params.gpus,
    )
    print(f"{len(ids)} prompts x {', '.join(teachers)}")


run_script(main, snakemake)  # noqa: F821
