"""Rule select_arbitrage: best valid completion per prompt (SFT rows) and the teacher win table.

snakemake -c1 results/tiny/arbitrage/fr.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.arbitrage import run_selection

    table = run_selection(
        list(smk.input.scores), smk.input.prompts, smk.output.sft, smk.output.wins, lang=smk.wildcards.lang
    )
    print({t: v["wins"] for t, v in table["teachers"].items()})


run_script(main, snakemake)  # noqa: F821
