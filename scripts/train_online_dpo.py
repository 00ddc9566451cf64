"""Rule train_online_dpo: iteration {it} of online DPO, continuing the previous policy on the pairs
of its own samples, with the family's offline DPO model as the fixed reference.

snakemake -c2 results/tiny/checkpoints/romance/online_it1
"""

from expanse.logs import run_script


def main(smk):
    from expanse.schema import ModelSource
    from expanse.training.config import LaunchCfg
    from expanse.training.jobs import run_job

    p, w = smk.params, smk.wildcards
    run_job(
        "dpo",
        name=f"{w.family}/online_it{w.it}",
        model=ModelSource(location=smk.input.policy, load=p.load),
        ref_model=ModelSource(location=smk.input.reference, load=p.load),
        data=smk.input.pairs,
        prompts=smk.input.prompts,
        config=p.training,
        seed=p.seed,
        threads=smk.threads,
        out_dir=smk.output.checkpoint,
        metrics_path=smk.output.metrics,
        work_dir=p.work_dir,
        gpus=p.gpus,
        nodes=p.nodes,
        launch=LaunchCfg.of(p.launch, f"scales.{smk.wildcards.scale}.launch"),
        made_by={"family": w.family, "scale": w.scale, "origin": f"online_it{w.it}"},
    )


run_script(main, snakemake)  # noqa: F821
