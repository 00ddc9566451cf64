"""Rule sample_policy: k completions per prompt (train and dev) of one language from the policy of
online iteration {it}.

snakemake -c1 results/tiny/online/romance/it1/samples/fr.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.generation import run_generation
    from expanse.generation.config import GenerationCfg

    w = smk.wildcards
    run_generation(
        smk.input.prompts,
        smk.output.samples,
        lang=w.lang,
        model_name=f"{w.family}/it{w.it}",
        location=smk.input.policy,
        load=smk.params.load,
        generation=GenerationCfg.of(smk.params.generation, f"scales.{smk.wildcards.scale}.generation"),
        samples=smk.params.samples,
        seed=smk.params.seed,
        gpus=smk.params.gpus,
        splits=("train", "dev"),
    )


run_script(main, snakemake)  # noqa: F821
