"""Rule build_pairs: offline preference pairs (best vs worst, min margin, ties dropped).

snakemake -c1 results/tiny/pairs/offline/fr.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.pairs import run_pairs

    n = run_pairs(
        list(smk.input.scores),
        smk.input.prompts,
        smk.output.pairs,
        min_margin=smk.params.pairs["min_margin"],
        origin="offline",
    )
    print(f"{n} pairs")


run_script(main, snakemake)  # noqa: F821
