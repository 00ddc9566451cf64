"""Rule measure_teacher_loss: each tiny model's loss on each language's held-out text.

snakemake -c1 results/tiny/models/teacher_heldout_loss.json
"""

from expanse.logs import run_script


def main(smk):
    from pathlib import Path

    from expanse.tiny.pretraining import heldout_loss

    models = {"base": smk.input.base, **{Path(p).name: p for p in smk.input.teachers}}
    result = heldout_loss(
        models,
        corpus_path=smk.input.corpus,
        tokenizer_dir=smk.input.tokenizer,
        codes=smk.params.codes,
        seq_len=smk.params.spec["seq_len"],
        seed=smk.params.seed,
        out_path=smk.output.json,
    )
    print(result["best"])


run_script(main, snakemake)  # noqa: F821
