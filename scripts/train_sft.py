"""Rule train_sft: trl SFT of the scale's base model on one family's arbitraged rows.

snakemake -c2 results/tiny/checkpoints/romance/sft
"""

from expanse.logs import run_script


def main(smk):
    from expanse.schema import ModelSource
    from expanse.training.config import LaunchCfg
    from expanse.training.jobs import run_job

    p = smk.params
    run_job(
        "sft",
        name=f"{smk.wildcards.family}/sft",
        model=ModelSource.model_validate(p.model),
        ref_model=None,
        data=smk.input.arbitrage,
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
        made_by={"family": smk.wildcards.family, "scale": smk.wildcards.scale},
    )


run_script(main, snakemake)  # noqa: F821
