"""Rule search_merge_weights: candidates for the family weights, each merged, answering every
language's dev prompts and scored by the arbiter; the best one above the floor is chosen.

snakemake -c1 results/tiny/merge_search.json
"""

from expanse.logs import run_script


def main(smk):
    from expanse.arbiter.config import ArbiterCfg
    from expanse.generation.config import GenerationCfg
    from expanse.merging.config import MergeCfg
    from expanse.merging.run import resolve
    from expanse.merging.search import run_search
    from expanse.schema import ModelSource

    p, scale = smk.params, smk.wildcards.scale
    result = run_search(
        checkpoints=list(smk.input.checkpoints),
        prompt_paths=list(smk.input.prompts),
        out_path=smk.output.search,
        families=list(p.families),
        weights=list(p.weights),
        merge=MergeCfg.of({**p.merge, "search": p.search}, f"scales.{scale}.merge"),
        base=resolve(ModelSource.model_validate(p.base)) if p.base else None,
        generation=GenerationCfg.of(p.generation, f"scales.{scale}.generation"),
        arbiter=ArbiterCfg.of(p.arbiter, f"scales.{scale}.arbiter"),
        reward_model=ModelSource.model_validate(p.reward_model) if p.reward_model else None,
        load=p.load,
        seed=p.seed,
        gpus=p.gpus,
    )
    print(f"chosen: candidate {result['chosen']['index']} {result['chosen']['weights']}")


run_script(main, snakemake)  # noqa: F821
