"""The tiny scale: corpus, tokenizer and models built here, with no hub. One module per concern:

- `expanse.tiny.corpus`: natural text read at build time from the gettext catalogs Django ships
  (English source strings and their translations), cleaned, deduplicated, split train/heldout by a
  seeded hash; conversations made of it.
- `expanse.tiny.tokenizer`: byte-level BPE (`tokenizers`) with Aya's Cohere chat template (trl's copy).
- `expanse.tiny.pretraining`: `CohereForCausalLM` with `use_qk_norm=False` as Aya Expanse ships; a
  base pretrained on every language; teachers continued from the base on their own language
  mixture, so each is really better on its languages; their held-out loss.
- `expanse.tiny.reward_model`: synthetic preference pairs and a reward model
  (`AutoModelForSequenceClassification`, 1 label) trained on them with trl's `RewardTrainer`.

The Cohere sequence-classification registration that every reward model needs, tiny or not, lives
in `expanse.models`. This package imports none of its modules.
"""
