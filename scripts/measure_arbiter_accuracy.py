"""Rule measure_arbiter_accuracy: pairwise accuracy of each arbiter on held-out preference pairs.

snakemake -c1 results/tiny/models/arbiter_accuracy.json
"""

from expanse.logs import run_script


def main(smk):
    from expanse.arbiter.accuracy import measure_accuracy
    from expanse.arbiter.config import ArbiterCfg

    result = measure_accuracy(
        smk.input.corpus,
        smk.input.reward_model,
        smk.output.json,
        arbiter=ArbiterCfg.of(smk.params.arbiter, f"scales.{smk.wildcards.scale}.arbiter"),
        codes=smk.params.codes,
        n_per_language=smk.params.corpus["reward_pairs_per_language"],
        seed=smk.params.seed,
    )
    print(result["accuracy"])


run_script(main, snakemake)  # noqa: F821
