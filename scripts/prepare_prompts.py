"""Rule prepare_prompts: validate one language's prompt files and split train/dev/test.

snakemake -c1 results/tiny/prompts/fr.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.prompts import prepare_prompts

    df = prepare_prompts(
        smk.input.prompts,
        smk.input.eval_prompts,
        smk.wildcards.lang,
        smk.output.prompts,
        seed=smk.params.seed,
        dev_fraction=smk.params.prompts["dev_fraction"],
        max_train=smk.params.prompts["max_train"],
        max_chars=smk.params.prompts["max_prompt_chars"],
    )
    print(df.group_by("split").len().sort("split"))


run_script(main, snakemake)  # noqa: F821
