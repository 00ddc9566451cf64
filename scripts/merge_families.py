"""Rules merge_families and merge_stage: the weighted merge of the family checkpoints (streaming,
CPU), with the weights the merge search chose when merge.search is enabled (merge_families only).

snakemake -c1 results/tiny/merged
snakemake -c1 results/tiny/merges/sft   # where merge.after lists sft
"""

from expanse.logs import run_script


def main(smk):
    from expanse.io import read_json
    from expanse.merging.config import MergeCfg
    from expanse.merging.run import run_merge
    from expanse.schema import ModelSource

    weights, search = smk.params.weights, list(smk.input.get("search", []))
    if search:
        chosen = read_json(search[0], "merge_search")["chosen"]["weights"]
        weights = [chosen[f] for f in smk.params.families]
    run_merge(
        list(smk.input.checkpoints),
        smk.output.merged,
        merge=MergeCfg.of(smk.params.merge, f"scales.{smk.wildcards.scale}.merge"),
        weights=weights,
        families=smk.params.families,
        base=ModelSource.model_validate(smk.params.base) if smk.params.base else None,
        stage=smk.wildcards.get("stage", "online"),
    )


run_script(main, snakemake)  # noqa: F821
