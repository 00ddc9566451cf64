"""Prompt files: the shipped data is valid, and each kind of bad input names file:line."""

import json

import polars as pl
import pytest

from expanse.errors import DataError
from expanse.languages import LANGUAGES
from expanse.prompts import prepare_prompts, read_prompt_file

from conftest import REPO

FR = [
    "Explique-moi pourquoi le ciel est bleu pendant la journée et rouge au coucher du soleil.",
    "Donne-moi une liste de cinq légumes de saison que l'on trouve en automne dans les marchés.",
    "Combien de minutes faut-il pour cuire des pâtes fraîches dans une grande casserole d'eau salée ?",
    "Réécris cette phrase dans un style plus poli : donne-moi le sel tout de suite.",
]


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows))
    return str(path)


def fr_rows(n=4, prefix="fr"):
    return [{"id": f"{prefix}-{i}", "task": "explain", "prompt": FR[i % len(FR)]} for i in range(n)]


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_shipped_prompt_files_are_valid(code):
    train = read_prompt_file(str(REPO / f"data/prompts/{code}.jsonl"), code)
    held_out = read_prompt_file(str(REPO / f"data/eval/prompts/{code}.jsonl"), code)
    assert len(train) >= 40 and len(held_out) >= 10
    assert {r["task"] for r in train} == {"explain", "list", "rewrite", "short_answer", "reasoning"}
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in held_out}


def test_bad_json_line(tmp_path):
    path = write(tmp_path / "fr.jsonl", [fr_rows(1)[0], '{"id": "fr-9", "prompt": '])
    with pytest.raises(DataError, match=r"fr.jsonl:2: invalid JSON"):
        read_prompt_file(path, "fr")


def test_missing_field(tmp_path):
    path = write(tmp_path / "fr.jsonl", [{"id": "fr-1"}])
    with pytest.raises(DataError, match=r"fr.jsonl:1: missing field 'prompt'"):
        read_prompt_file(path, "fr")


def test_empty_prompt(tmp_path):
    path = write(tmp_path / "fr.jsonl", [fr_rows(1)[0], {"id": "fr-2", "prompt": "   "}])
    with pytest.raises(DataError, match=r"fr.jsonl:2: empty prompt"):
        read_prompt_file(path, "fr")


def test_duplicate_id(tmp_path):
    rows = fr_rows(2)
    rows[1]["id"] = rows[0]["id"]
    path = write(tmp_path / "fr.jsonl", rows)
    with pytest.raises(DataError, match=r"fr.jsonl:2: duplicate id 'fr-0' \(first on line 1\)"):
        read_prompt_file(path, "fr")


def test_text_not_in_the_declared_language(tmp_path):
    rows = fr_rows(2)
    rows[1]["prompt"] = "Erkläre mir bitte, warum der Himmel am Tag blau und am Abend rot aussieht."
    path = write(tmp_path / "fr.jsonl", rows)
    with pytest.raises(DataError, match=r"fr.jsonl:2: text is mostly not French .*looks like German"):
        read_prompt_file(path, "fr")


def test_unknown_field(tmp_path):
    rows = fr_rows(1)
    rows[0]["answer"] = "x"
    with pytest.raises(DataError, match=r"fr.jsonl:1: unknown field\(s\) answer"):
        read_prompt_file(write(tmp_path / "fr.jsonl", rows), "fr")


def test_prepare_dedupes_splits_and_keeps_eval_out_of_training(tmp_path):
    train = fr_rows(4)
    train.append({"id": "fr-dup", "prompt": "  " + FR[1].upper() + " "})  # same text, other case/space
    held_out = [{"id": "fr-eval-1", "prompt": FR[3]}]  # also in train: must leave training
    out = tmp_path / "out.parquet"
    df = prepare_prompts(write(tmp_path / "fr.jsonl", train), write(tmp_path / "e.jsonl", held_out), "fr",
                         str(out), seed=1, dev_fraction=0.0)
    assert df.filter(pl.col("split") == "train")["id"].to_list() == ["fr-0", "fr-1", "fr-2"]
    assert df.filter(pl.col("split") == "test")["id"].to_list() == ["fr-eval-1"]
    assert df.columns == ["id", "lang", "prompt", "split"]
    again = tmp_path / "again.parquet"
    prepare_prompts(str(tmp_path / "fr.jsonl"), str(tmp_path / "e.jsonl"), "fr", str(again), seed=1, dev_fraction=0.0)
    assert out.read_bytes() == again.read_bytes()


def test_dev_split_is_seeded_and_stable():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        a = prepare_prompts(str(REPO / "data/prompts/de.jsonl"), str(REPO / "data/eval/prompts/de.jsonl"), "de",
                            str(Path(d) / "a.parquet"), seed=7, dev_fraction=0.25)
        b = prepare_prompts(str(REPO / "data/prompts/de.jsonl"), str(REPO / "data/eval/prompts/de.jsonl"), "de",
                            str(Path(d) / "b.parquet"), seed=8, dev_fraction=0.25)
    dev_a = set(a.filter(pl.col("split") == "dev")["id"])
    assert 4 <= len(dev_a) <= 22
    assert dev_a != set(b.filter(pl.col("split") == "dev")["id"])


def test_bad_file_leaves_no_output(tmp_path):
    out = tmp_path / "out.parquet"
    bad = write(tmp_path / "fr.jsonl", [{"id": "fr-1", "prompt": ""}])
    with pytest.raises(DataError):
        prepare_prompts(bad, bad, "fr", str(out), seed=1, dev_fraction=0.1)
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "fr.jsonl"]
