"""Rule train_reward_model: the tiny reward model, trained with trl's RewardTrainer from the base.

snakemake -c1 results/tiny/models/reward_model
"""

from expanse.logs import run_script


def main(smk):
    from expanse.tiny.reward_model import train_reward_model
    from expanse.tiny.spec import TinySpec

    train_reward_model(
        TinySpec.model_validate(smk.params.spec),
        corpus_path=smk.input.corpus,
        init_dir=smk.input.init,
        out_dir=smk.output.model,
        codes=smk.params.codes,
        pairs_per_language=smk.params.corpus["reward_pairs_per_language"],
        seed=smk.params.seed,
        threads=smk.threads,
    )


run_script(main, snakemake)  # noqa: F821
