"""Rule train_tokenizer: byte-level BPE on the tiny corpus, with Aya's chat template.

snakemake -c1 results/tiny/models/tokenizer
"""

from expanse.logs import run_script


def main(smk):
    from expanse.tiny.tokenizer import train_tokenizer

    cfg = smk.params.tokenizer
    train_tokenizer(
        smk.input.corpus, smk.output.tokenizer, vocab_size=cfg["vocab_size"], min_frequency=cfg["min_frequency"]
    )


run_script(main, snakemake)  # noqa: F821
