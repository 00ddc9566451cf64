"""Prompt files: the shipped data is valid, and each kind of bad input names file:line."""

import json
import re

import polars as pl
import pytest
from conftest import REPO

from expanse.errors import DataError
from expanse.languages import LANGUAGES
from expanse.prompts import prepare_eval_prompts, prepare_prompts, read_prompt_file

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
    df = prepare_prompts(
        write(tmp_path / "fr.jsonl", train),
        write(tmp_path / "e.jsonl", held_out),
        "fr",
        str(out),
        seed=1,
        dev_fraction=0.0,
    )
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
        a = prepare_prompts(
            str(REPO / "data/prompts/de.jsonl"),
            str(REPO / "data/eval/prompts/de.jsonl"),
            "de",
            str(Path(d) / "a.parquet"),
            seed=7,
            dev_fraction=0.25,
        )
        b = prepare_prompts(
            str(REPO / "data/prompts/de.jsonl"),
            str(REPO / "data/eval/prompts/de.jsonl"),
            "de",
            str(Path(d) / "b.parquet"),
            seed=8,
            dev_fraction=0.25,
        )
    dev_a = set(a.filter(pl.col("split") == "dev")["id"])
    assert 4 <= len(dev_a) <= 22
    assert dev_a != set(b.filter(pl.col("split") == "dev")["id"])


def test_bad_file_leaves_no_output(tmp_path):
    out = tmp_path / "out.parquet"
    bad = write(tmp_path / "fr.jsonl", [{"id": "fr-1", "prompt": ""}])
    with pytest.raises(DataError):
        prepare_prompts(bad, bad, "fr", str(out), seed=1, dev_fraction=0.1)
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "fr.jsonl"]


# ------------------------------------------------------------------ hostile input


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "fr.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in fr_rows(2)).encode())
    rows = read_prompt_file(str(path), "fr")
    assert [r["id"] for r in rows] == ["fr-0", "fr-1"] and rows[0]["prompt"] == FR[0]


def test_a_bom_after_the_first_line_is_refused(tmp_path):
    path = tmp_path / "fr.jsonl"
    first, second = (json.dumps(r).encode() for r in fr_rows(2))
    path.write_bytes(first + b"\n\xef\xbb\xbf" + second + b"\n")
    with pytest.raises(DataError, match=r"fr.jsonl:2: invalid JSON"):
        read_prompt_file(str(path), "fr")


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "fr.jsonl"
    first, second = (json.dumps(r, ensure_ascii=False).encode() for r in fr_rows(2))
    path.write_bytes(first + b"\n" + second.replace("é".encode(), b"\xe9", 1) + b"\n")
    with pytest.raises(DataError, match=r"^\S*fr.jsonl:2: invalid UTF-8 \(.*byte 0xe9.*\)$"):
        read_prompt_file(str(path), "fr")


@pytest.mark.parametrize(
    "field, value, expect",
    [
        ("prompt", [FR[1]], r"field 'prompt' must be a string, got array$"),
        ("task", {"kind": "explain"}, r"field 'task' must be a string, got object$"),
        ("id", "fr-1\n", r"id must be a non-empty string"),  # `$` in a pattern would let the newline in
    ],
)
def test_a_bad_field_is_named_at_its_line(tmp_path, field, value, expect):
    rows = fr_rows(2)
    rows[1][field] = value
    with pytest.raises(DataError, match=r"fr.jsonl:2: " + expect):
        read_prompt_file(write(tmp_path / "fr.jsonl", rows), "fr")


@pytest.mark.parametrize(
    "char, name", [("\x00", "U+0000"), ("\x1b", "U+001B"), ("\x7f", "U+007F"), ("\x85", "U+0085"), ("\ud800", "U+D800")]
)
def test_control_characters_are_refused(tmp_path, char, name):
    rows = fr_rows(2)
    rows[1]["prompt"] = FR[1][:20] + char + FR[1][20:]
    rows[1] = json.dumps(rows[1])  # \u escapes: the only way to spell NUL or a lone surrogate in JSON
    with pytest.raises(DataError, match=rf"fr.jsonl:2: field 'prompt' contains .*{re.escape(name)} at character 21"):
        read_prompt_file(write(tmp_path / "fr.jsonl", rows), "fr")


def test_raw_del_and_c1_bytes_in_the_file_are_refused(tmp_path):
    rows = fr_rows(3)
    rows[1]["prompt"] = FR[1] + "\x7f"
    rows[2]["prompt"] = FR[2] + "\x9b"
    path = tmp_path / "fr.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:2]), encoding="utf-8")
    with pytest.raises(DataError, match=r"fr.jsonl:2: field 'prompt' contains .*U\+007F"):
        read_prompt_file(str(path), "fr")
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[::2]), encoding="utf-8")
    with pytest.raises(DataError, match=r"fr.jsonl:2: field 'prompt' contains .*U\+009B"):
        read_prompt_file(str(path), "fr")


def test_tabs_and_newlines_in_a_prompt_are_fine(tmp_path):
    rows = fr_rows(2)
    rows[1]["prompt"] = FR[1] + "\n\t- " + FR[2] + "\r\n"
    assert read_prompt_file(write(tmp_path / "fr.jsonl", rows), "fr")[1]["prompt"] == FR[1] + "\n\t- " + FR[2]


def test_over_long_prompt_names_the_limit_and_its_params_key(tmp_path):
    rows = fr_rows(2)
    rows[1]["prompt"] = " ".join([FR[1]] * 10)
    path = write(tmp_path / "fr.jsonl", rows)
    n = len(rows[1]["prompt"])
    with pytest.raises(
        DataError,
        match=rf"fr.jsonl:2: prompt is {n} characters, over the limit of 500 "
        r"\(.*prompts\.max_prompt_chars\)",
    ):
        read_prompt_file(path, "fr", max_chars=500)
    assert len(read_prompt_file(path, "fr", max_chars=n)) == 2


def test_prepare_applies_the_length_limit_to_the_eval_file_too(tmp_path):
    out = tmp_path / "out.parquet"
    held_out = [{"id": "fr-eval-1", "prompt": " ".join([FR[3]] * 10)}]
    with pytest.raises(DataError, match=r"e.jsonl:1: prompt is \d+ characters, over the limit of 500"):
        prepare_prompts(
            write(tmp_path / "fr.jsonl", fr_rows(4)),
            write(tmp_path / "e.jsonl", held_out),
            "fr",
            str(out),
            seed=1,
            dev_fraction=0.0,
            max_chars=500,
        )
    assert not out.exists()


def test_the_default_length_limit_comes_from_the_config():
    from expanse.config import PromptsCfg
    from expanse.prompts import MAX_PROMPT_CHARS

    assert PromptsCfg().max_prompt_chars == MAX_PROMPT_CHARS == 32768
    with pytest.raises(ValueError):
        PromptsCfg(max_prompt_chars=0)
    with pytest.raises(ValueError):
        PromptsCfg(max_prompt_chars=10**9)


def test_rule_script_takes_the_limit_from_params_and_fails_in_one_line(tmp_path):
    """scripts/prepare_prompts.py with the scale's prompts params: exit status 1, one line, no output."""
    import subprocess
    import sys

    from expanse.config import PromptsCfg

    rows = fr_rows(4)
    rows[2]["prompt"] = " ".join([FR[2]] * 10)
    out = tmp_path / "out.parquet"
    smk = {
        "input": {
            "prompts": write(tmp_path / "fr.jsonl", rows),
            "eval_prompts": write(tmp_path / "e.jsonl", [{"id": "fr-e", "prompt": FR[3]}]),
        },
        "output": {"prompts": str(out)},
        "log": [str(tmp_path / "log/p.log")],
        "wildcards": {"lang": "fr"},
        "params": {"seed": 1, "prompts": PromptsCfg(max_prompt_chars=500).model_dump()},
    }
    code = (
        "import json, runpy, sys; from types import SimpleNamespace as N\n"
        "d = json.loads(sys.argv[1]); smk = N(**{k: N(**v) if isinstance(v, dict) else v for k, v in d.items()})\n"
        "runpy.run_path('scripts/prepare_prompts.py', init_globals={'snakemake': smk})"
    )
    run = subprocess.run([sys.executable, "-c", code, json.dumps(smk)], cwd=REPO, capture_output=True, text=True)
    error = (
        f"error: {tmp_path}/fr.jsonl:3: prompt is {len(rows[2]['prompt'])} characters, over the limit of 500 "
        f"(params.yaml: scales.<scale>.prompts.max_prompt_chars)"
    )
    assert run.returncode == 1 and run.stderr.splitlines() == [error]
    assert (tmp_path / "log/p.log").read_text().splitlines()[-1] == error
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["e.jsonl", "fr.jsonl", "log"]


def test_the_test_prompts_prepared_alone_are_the_test_split(tmp_path):
    """prepare_eval_prompts (read by the eval answers and judges) gives the rows prepare_prompts puts
    in its test split, in the same order, without reading the training file."""
    both = prepare_prompts(
        str(REPO / "data/prompts/de.jsonl"),
        str(REPO / "data/eval/prompts/de.jsonl"),
        "de",
        str(tmp_path / "both.parquet"),
        seed=3,
        dev_fraction=0.2,
    )
    alone = prepare_eval_prompts(str(REPO / "data/eval/prompts/de.jsonl"), "de", str(tmp_path / "test.parquet"))
    assert alone.equals(both.filter(pl.col("split") == "test")) and len(alone) >= 10
    assert pl.read_parquet(tmp_path / "test.parquet").equals(alone)
    # a repeat is dropped as in the split; a bad line is the file:line error, and nothing is written
    dup = write(tmp_path / "dup.jsonl", [*fr_rows(2), {"id": "fr-x", "prompt": FR[0]}])
    assert prepare_eval_prompts(dup, "fr", str(tmp_path / "dup.parquet"))["id"].to_list() == ["fr-0", "fr-1"]
    bad = write(tmp_path / "bad.jsonl", [fr_rows(1)[0], {"id": "fr-2", "prompt": "   "}])
    with pytest.raises(DataError, match=r"bad.jsonl:2: empty prompt"):
        prepare_eval_prompts(bad, "fr", str(tmp_path / "bad.parquet"))
    assert not (tmp_path / "bad.parquet").exists()
