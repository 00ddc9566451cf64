"""Rule summarize_arbitrage: every language's teacher win table in one JSON.

snakemake -c1 results/tiny/arbitrage/summary.json
"""

from expanse.logs import run_script


def main(smk):
    from expanse.arbitrage import summarize

    s = summarize(list(smk.input.wins), smk.output.summary)
    print({lang: v["top_teacher"] for lang, v in s["languages"].items()})


run_script(main, snakemake)  # noqa: F821
