"""The tiny scale's building blocks: corpus from installed packages, tokenizer, architecture,
reward-model preferences."""

import polars as pl
import pytest

from expanse.languages import LANGUAGES
from expanse.tiny.corpus import build_corpus, catalog_sentences
from expanse.tiny.pretraining import cohere_config, pretrain
from expanse.tiny.reward_model import REJECTION_KINDS, synthetic_preference_pairs, train_reward_model
from expanse.tiny.spec import TinySpec
from expanse.tiny.tokenizer import train_tokenizer


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.parquet"
    return str(path), build_corpus(["fr", "ru", "ja", "hi"], str(path), seed=1, heldout_fraction=0.1)


def test_catalogs_give_a_few_hundred_sentences_in_every_language():
    counts = {c: len(catalog_sentences(c)) for c in LANGUAGES}
    assert min(counts.values()) >= 300, counts


def test_corpus_split_is_seeded_and_disjoint(corpus, tmp_path):
    path, df = corpus
    assert set(df["split"]) == {"train", "heldout"}
    train = set(df.filter(pl.col("split") == "train")["text"])
    assert not train & set(df.filter(pl.col("split") == "heldout")["text"])
    again = tmp_path / "again.parquet"
    build_corpus(["fr", "ru", "ja", "hi"], str(again), seed=1, heldout_fraction=0.1)
    assert open(path, "rb").read() == again.read_bytes()


def test_tokenizer_round_trips_and_has_the_aya_chat_template(corpus, tmp_path):
    from transformers import AutoTokenizer

    train_tokenizer(corpus[0], str(tmp_path / "tok"), vocab_size=1024, min_frequency=2)
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    for text in [
        "Réécris cette phrase, s'il te plaît.",
        "Объясни, почему небо голубое.",
        "なぜ空は青いのですか。",
        "आसमान नीला क्यों है?",
    ]:
        assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text
    chat = tok.apply_chat_template([{"role": "user", "content": "Salut"}], tokenize=False, add_generation_prompt=True)
    assert chat == (
        "<BOS_TOKEN><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Salut<|END_OF_TURN_TOKEN|>"
        "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"
    )
    assert tok.eos_token == "<|END_OF_TURN_TOKEN|>" and tok.pad_token == "<PAD>"
    cfg = cohere_config({"hidden": 64, "ffn": 128, "layers": 2, "heads": 4, "kv_heads": 2}, tok)
    assert cfg.model_type == "cohere" and cfg.use_qk_norm is False and cfg.vocab_size == len(tok)


def test_synthetic_preference_pairs_rotate_rejection_kinds(corpus):
    _, df = corpus
    rows = synthetic_preference_pairs(df, ["fr", "ru"], "train", 8, seed=3)
    assert len(rows) == 16
    assert [r["kind"] for r in rows[:4]] == list(REJECTION_KINDS)
    for r in rows:
        assert r["chosen"] != r["rejected"] and r["chosen"] and r["prompt"]
    wrong = [r for r in rows if r["kind"] == "wrong_language" and r["lang"] == "fr"]
    russian = df.filter(pl.col("lang") == "ru")["text"].to_list()
    assert wrong and all(any(s in r["rejected"] for s in russian) for r in wrong)
    single = synthetic_preference_pairs(df, ["fr"], "train", 4, seed=3)
    assert "wrong_language" not in {r["kind"] for r in single}


def test_pretraining_and_reward_training_are_byte_identical_on_rerun(corpus, tmp_path):
    train_tokenizer(corpus[0], str(tmp_path / "tok"), vocab_size=1024, min_frequency=2)
    spec = {
        "hidden": 32,
        "ffn": 64,
        "layers": 1,
        "heads": 2,
        "kv_heads": 1,
        "steps": 3,
        "lr": 1e-3,
        "batch_size": 2,
        "seq_len": 32,
        "other_weight": 0.0,
        "languages": ["fr"],
    }
    for run in ("a", "b"):
        pretrain(
            TinySpec.model_validate(spec),
            corpus_path=corpus[0],
            tokenizer_dir=str(tmp_path / "tok"),
            out_dir=str(tmp_path / run),
            init_dir=None,
            codes=["fr", "ru"],
            seed=5,
            threads=1,
            name="t",
        )
        train_reward_model(
            TinySpec.model_validate({**spec, "batch_size": 4}),
            corpus_path=corpus[0],
            init_dir=str(tmp_path / run),
            out_dir=str(tmp_path / f"rm_{run}"),
            codes=["fr", "ru"],
            pairs_per_language=4,
            seed=5,
            threads=1,
        )
    assert (tmp_path / "a/model.safetensors").read_bytes() == (tmp_path / "b/model.safetensors").read_bytes()
    assert (tmp_path / "rm_a/model.safetensors").read_bytes() == (tmp_path / "rm_b/model.safetensors").read_bytes()


def test_sft_trains_on_the_completion_only_with_its_end_of_turn(corpus, tmp_path):
    """The SFT rows and settings the trainer gets: prompt tokens carry no loss; the answer and the
    end-of-turn token that stops generation do."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from expanse.training.trainers import SFT_LOSS

    train_tokenizer(corpus[0], str(tmp_path / "tok"), vocab_size=1024, min_frequency=2)
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    tok.padding_side = "right"
    model = AutoModelForCausalLM.from_config(
        cohere_config({"hidden": 32, "ffn": 64, "layers": 1, "heads": 2, "kv_heads": 1}, tok)
    )
    rows = [
        {
            "prompt": [{"role": "user", "content": "Explique le pain."}],
            "completion": [{"role": "assistant", "content": "Le pain lève."}],
        }
    ]
    args = SFTConfig(
        output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True, bf16=False, max_length=64, **SFT_LOSS
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
    batch = trainer.data_collator([trainer.train_dataset[0]])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    prompt = tok.apply_chat_template(rows[0]["prompt"], tokenize=True, add_generation_prompt=True, return_dict=False)
    assert ids[: len(prompt)] == prompt and set(labels[: len(prompt)]) == {-100}
    answer = [t for t, label in zip(ids, labels) if label != -100]
    assert tok.decode(answer) == "Le pain lève.<|END_OF_TURN_TOKEN|>"
