"""A family's training rows, the resume directory, and pairs from the policy's own samples."""

import json

import polars as pl
import pytest

from expanse.errors import DataError
from expanse.io import SCHEMAS, write_parquet
from expanse.pairs import best_vs_worst
from expanse.training.config import TrainJob
from expanse.training.data import preference_rows, sft_rows
from expanse.training.resume import fingerprint, last_checkpoint, prepare_work_dir


def prompts(tmp_path, lang, splits):
    path = tmp_path / f"prompts_{lang}.parquet"
    write_parquet(
        pl.DataFrame(
            {
                "id": [f"{lang}{i}" for i in range(len(splits))],
                "lang": [lang] * len(splits),
                "prompt": [f"q{i}" for i in range(len(splits))],
                "split": splits,
            }
        ),
        path,
        "prompts",
    )
    return str(path)


def arbitrage(tmp_path, lang, ids):
    path = tmp_path / f"arb_{lang}.parquet"
    write_parquet(
        pl.DataFrame(
            {
                "prompt_id": ids,
                "lang": [lang] * len(ids),
                "prompt": ids,
                "completion": [f"a-{i}" for i in ids],
                "teacher": ["t"] * len(ids),
                "score": [1.0] * len(ids),
                "margin": [0.5] * len(ids),
            }
        ),
        path,
        "arbitrage",
    )
    return str(path)


def test_sft_rows_split_by_the_prompts_split_and_never_use_test(tmp_path):
    pf = prompts(tmp_path, "fr", ["train", "dev", "train", "test"])
    pe = prompts(tmp_path, "es", ["train", "train"])
    rows = sft_rows(
        [arbitrage(tmp_path, "fr", ["fr0", "fr1", "fr2", "fr3"]), arbitrage(tmp_path, "es", ["es0", "es1"])], [pf, pe]
    )
    train = [r["completion"][0]["content"] for r in rows["train"]]
    assert train == ["a-es0", "a-es1", "a-fr0", "a-fr2"]
    assert [r["completion"][0]["content"] for r in rows["dev"]] == ["a-fr1"]
    assert rows["train"][0]["prompt"] == [{"role": "user", "content": "es0"}]
    assert rows["train"][0]["completion"][0]["role"] == "assistant"


def test_rows_with_unknown_prompt_ids_are_an_error(tmp_path):
    pf = prompts(tmp_path, "fr", ["train"])
    with pytest.raises(DataError, match="prompt ids missing"):
        sft_rows([arbitrage(tmp_path, "fr", ["fr0", "fr9"])], [pf])


def test_preference_rows_are_conversational(tmp_path):
    pf = prompts(tmp_path, "fr", ["train", "dev"])
    path = tmp_path / "pairs.parquet"
    write_parquet(
        pl.DataFrame(
            {
                "prompt_id": ["fr0", "fr1"],
                "lang": ["fr", "fr"],
                "prompt": ["q0", "q1"],
                "chosen": ["c0", "c1"],
                "rejected": ["r0", "r1"],
                "chosen_score": [1.0, 1.0],
                "rejected_score": [0.0, 0.0],
                "origin": ["offline"] * 2,
            }
        ),
        path,
        "pairs",
    )
    rows = preference_rows([str(path)], [pf])
    assert rows["train"] == [
        {
            "prompt": [{"role": "user", "content": "q0"}],
            "chosen": [{"role": "assistant", "content": "c0"}],
            "rejected": [{"role": "assistant", "content": "r0"}],
        }
    ]
    assert len(rows["dev"]) == 1


def spec(tmp_path, data, **changes):
    job = {
        "name": "f/sft",
        "stage": "sft",
        "data": [data],
        "prompts": [],
        "config": {"lr": 0.1},
        "model": {"location": str(tmp_path / "model")},
        "ref_model": None,
        "seed": 1,
        "threads": 1,
        "out_dir": str(tmp_path / "out"),
        "metrics_path": str(tmp_path / "metrics.json"),
        "work_dir": str(tmp_path / "work"),
        "made_by": {},
    }
    return TrainJob.model_validate(job | changes)


def test_resume_picks_the_last_complete_checkpoint_and_drops_partial_ones(tmp_path):
    data = tmp_path / "d.parquet"
    data.write_bytes(b"1")
    (tmp_path / "model").mkdir()
    s = spec(tmp_path, str(data))
    assert prepare_work_dir(s) is None
    work = tmp_path / "work"
    for step, complete in ((10, True), (20, True), (30, False)):
        (work / f"checkpoint-{step}").mkdir()
        if complete:
            (work / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    assert prepare_work_dir(s).endswith("checkpoint-20")
    assert not (work / "checkpoint-30").exists()  # cut off mid-write: removed
    assert last_checkpoint(work).endswith("checkpoint-20")
    # killed inside the trainer's (plain, non-atomic) write of its state: empty or cut off
    for step, state in ((40, ""), (50, '{"global_step": 5')):
        (work / f"checkpoint-{step}").mkdir()
        (work / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    assert last_checkpoint(work).endswith("checkpoint-20")
    assert prepare_work_dir(s).endswith("checkpoint-20")
    assert not (work / "checkpoint-40").exists() and not (work / "checkpoint-50").exists()


def test_resume_state_of_other_inputs_or_settings_is_discarded(tmp_path):
    data = tmp_path / "d.parquet"
    data.write_bytes(b"1")
    (tmp_path / "model").mkdir()
    s = spec(tmp_path, str(data))
    prepare_work_dir(s)
    ckpt = tmp_path / "work" / "checkpoint-10"
    ckpt.mkdir()
    (ckpt / "trainer_state.json").write_text("{}")
    before = fingerprint(s)
    data.write_bytes(b"2")  # the data changed: this run's checkpoints are not ours to resume
    assert fingerprint(s) != before
    assert prepare_work_dir(s) is None and not ckpt.exists()
    ckpt.mkdir()
    (ckpt / "trainer_state.json").write_text("{}")
    assert prepare_work_dir(spec(tmp_path, str(data), config={"lr": 0.2})) is None  # settings changed
    assert prepare_work_dir(spec(tmp_path, str(data), config={"lr": 0.2})) is None
    ckpt.mkdir()
    (ckpt / "trainer_state.json").write_text("{}")
    changed = spec(tmp_path, str(data), config={"lr": 0.2}, made_by={"x": 1})
    assert prepare_work_dir(changed) is not None  # the card is not a setting


def samples(rows):
    """rows: (prompt_id, sample, completion, score, lang_ok) of one policy"""
    return pl.DataFrame(
        [
            {
                "prompt_id": p,
                "lang": "fr",
                "model": "romance/it1",
                "sample": k,
                "completion": c,
                "n_tokens": 3,
                "finish_reason": "stop",
                "reward": None,
                "lang_prob": 0.9 if ok else 0.1,
                "lang_ok": ok,
                "score": s,
            }
            for p, k, c, s, ok in rows
        ],
        schema=SCHEMAS["scores"],
    )


def test_online_pairs_take_best_and_worst_of_the_policys_samples():
    pr = pl.DataFrame(
        {"id": ["p1", "p2", "p3", "p4"], "lang": ["fr"] * 4, "prompt": ["q1", "q2", "q3", "q4"], "split": ["train"] * 4}
    )
    df = samples(
        [
            ("p1", 0, "mid", 0.5, True),
            ("p1", 1, "best", 0.9, True),
            ("p1", 2, "worst", 0.1, True),
            ("p1", 3, "ok", 0.6, True),
            ("p2", 0, "same", 0.5, True),
            ("p2", 1, "same", 0.5, True),
            ("p2", 2, "same", 0.5, True),  # ties: dropped
            ("p3", 0, "fr", 0.30, True),
            ("p3", 1, "en", 0.31, False),  # wrong language loses whatever its score
            ("p4", 0, "a", 0.50, True),
            ("p4", 1, "b", 0.48, True),  # below min_margin
        ]
    )
    pairs = best_vs_worst(df, pr, min_margin=0.05, origin="online_it1")
    assert pairs.select("prompt_id", "chosen", "rejected").rows() == [("p1", "best", "worst"), ("p3", "fr", "en")]
    assert set(pairs["origin"]) == {"online_it1"}


def test_finish_removes_the_resume_directory_and_its_empty_parents(tmp_path):
    from expanse.training.resume import finish

    sft, dpo = tmp_path / "resume/romance/sft", tmp_path / "resume/romance/dpo"
    for d in (sft, dpo):
        (d / "checkpoint-5").mkdir(parents=True)
    finish(sft)
    assert not sft.exists() and dpo.exists()  # the family's other stage is still training
    finish(dpo)
    assert not (tmp_path / "resume").exists() and tmp_path.exists()
