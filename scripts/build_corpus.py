"""Rule build_corpus: natural text for the tiny models from Django's gettext catalogs.

snakemake -c1 results/tiny/corpus.parquet
"""

from expanse.logs import run_script


def main(smk):
    from expanse.tiny.corpus import build_corpus

    df = build_corpus(
        smk.params.codes,
        smk.output.corpus,
        seed=smk.params.seed,
        heldout_fraction=smk.params.corpus["heldout_fraction"],
    )
    print(df.group_by("lang", "split").len().sort("lang", "split"))


run_script(main, snakemake)  # noqa: F821
