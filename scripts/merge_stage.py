"""Rule merge_stage: the weighted merge of the family checkpoints (streaming, CPU).

snakemake -c1 results/tiny/merges/sft
"""

from expanse.logs import run_script


def main(smk):
    from expanse.merging.run import run_merge

    run_merge(
        list(smk.input.checkpoints),
        smk.output.merged,
        merge=smk.params.merge,
        weights=smk.params.weights,
        families=smk.params.families,
        base=smk.params.base,
        stage=smk.wildcards.get("stage", "online"),
    )


run_script(main, snakemake)  # noqa: F821
