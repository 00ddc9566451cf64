"""Rule pretrain_base: the tiny base model (CohereForCausalLM, use_qk_norm=False) on every language.

snakemake -c1 results/tiny/models/base
"""

from expanse.logs import run_script


def main(smk):
    from expanse.tiny.pretraining import pretrain
    from expanse.tiny.spec import TinySpec

    pretrain(
        TinySpec.model_validate(smk.params.spec),
        corpus_path=smk.input.corpus,
        tokenizer_dir=smk.input.tokenizer,
        out_dir=smk.output.model,
        init_dir=None,
        codes=smk.params.codes,
        seed=smk.params.seed,
        threads=smk.threads,
        name="base",
    )


run_script(main, snakemake)  # noqa: F821
