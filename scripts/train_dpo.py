"""Rule train_dpo: trl DPO of a family's SFT model on its offline pairs (reference = the SFT model).

snakemake -c2 results/tiny/checkpoints/romance/dpo
"""

from expanse.logs import run_script


def main(smk):
    from expanse.schema import ModelSource
    from expanse.training.config import LaunchCfg
    from expanse.training.jobs import run_job

    p = smk.params
    sft = ModelSource(location=smk.input.sft, load=p.load)
    run_job(
        "dpo",
        name=f"{smk.wildcards.family}/dpo",
        model=sft,
        ref_model=sft,
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
        made_by={"family": smk.wildcards.family, "scale": smk.wildcards.scale, "origin": "offline"},
    )


run_script(main, snakemake)  # noqa: F821
