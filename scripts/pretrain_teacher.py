"""Rule pretrain_teacher: a tiny teacher, continued from the base on its own language mixture.

snakemake -c1 results/tiny/models/teachers/euro
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
        init_dir=smk.input.init[0] if smk.input.init else None,
        codes=smk.params.codes,
        seed=smk.params.seed,
        threads=smk.threads,
        name=smk.wildcards.teacher,
    )


run_script(main, snakemake)  # noqa: F821
