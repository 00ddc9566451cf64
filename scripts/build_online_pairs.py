"""Rule build_online_pairs: best vs worst of the policy's own samples (min margin, ties dropped).

snakemake -c1 results/tiny/online/romance/it1/pairs/fr.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.pairs import run_pairs

    n = run_pairs(
        [smk.input.scores],
        smk.input.prompts,
        smk.output.pairs,
        min_margin=smk.params.min_margin,
        origin=f"online_it{smk.wildcards.it}",
    )
    print(f"{n} pairs")


run_script(main, snakemake)  # noqa: F821
