"""Rule judge_pairwise: the merged model against the base, its family's model, every teacher and
the language's best teacher on one language's test prompts; both orders, bootstrap intervals.

snakemake -c1 results/tiny/eval/winrates/fr.json
"""

from expanse.logs import run_script


def main(smk):
    from expanse.evaluation.config import JudgeCfg
    from expanse.evaluation.pairwise import best_teacher, run_judging
    from expanse.generation.config import GenerationCfg
    from expanse.schema import ModelSource

    p, scale = smk.params, smk.wildcards.scale
    opponents = {**p.opponents, "best_teacher": f"teacher.{best_teacher(smk.input.wins)}"}
    run_judging(
        smk.output.winrates,
        smk.output.judgements,
        lang=smk.wildcards.lang,
        prompts_path=smk.input.prompts,
        model="merged",
        answers=dict(zip(p.models, smk.input.answers)),
        opponents=opponents,
        judge=JudgeCfg.of(p.judge, f"scales.{scale}.eval.judge"),
        judge_model=ModelSource.model_validate(p.judge_model),
        generation=GenerationCfg.of(p.generation, f"scales.{scale}.generation"),
        bootstrap=p.bootstrap,
        seed=p.seed,
        gpus=p.gpus,
    )


run_script(main, snakemake)  # noqa: F821
