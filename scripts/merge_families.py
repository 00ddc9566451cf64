"""Rule merge_families: the weighted merge of the family checkpoints (streaming, CPU).

snakemake -c1 results/tiny/merged
"""
from expanse.logs import run_script
from expanse.merging.run import run_merge


def main(smk):
    run_merge(list(smk.input.checkpoints), smk.output.merged, merge=smk.params.merge, weights=smk.params.weights,
              families=smk.params.families, base=smk.params.base, stage=smk.wildcards.get("stage", "online"))


run_script(main, snakemake)  # noqa: F821
