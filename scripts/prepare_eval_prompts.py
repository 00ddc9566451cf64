"""Rule prepare_eval_prompts: validate one language's held-out prompt file; its test prompts.

snakemake -c1 results/tiny/eval/prompts/fr.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.prompts import prepare_eval_prompts

    df = prepare_eval_prompts(
        smk.input.eval_prompts,
        smk.wildcards.lang,
        smk.output.prompts,
        max_chars=smk.params.max_prompt_chars,
    )
    print(f"{len(df)} test prompts")


run_script(main, snakemake)  # noqa: F821
