"""The contracts of the JSON artifacts, as expanse.io.SCHEMAS is for the parquet ones.

A contract names the keys an artifact must have and the JSON type of each value; keys a contract
does not name may be there too (a reader relies only on what the contract names). io.write_json
checks an object against its contract before anything is written, io.read_json checks what it read;
a mismatch is a DataError naming the file, the contract and the first offending key path, e.g.
``results/tiny/merge_search.json: merge_search: chosen.weights.romance: expected a number, got str``.

Spec language: ``str``/``int``/``float``/``bool``/``list``/``dict`` are the JSON type (``float``
takes any number, ``int`` only whole numbers; ``bool`` is never a number); ``Opt(spec)`` also
allows null; ``Map(spec)`` is an object whose every value is ``spec`` (any keys); ``List(spec)``
is an array of ``spec``; a dict ``{key: spec}`` is an object with at least those keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from expanse.errors import DataError


@dataclass(frozen=True)
class Opt:
    """A value of `spec`, or null."""

    spec: Any


@dataclass(frozen=True)
class Map:
    """An object whose every value is a `spec` (its keys are names: languages, teachers, families)."""

    spec: Any


@dataclass(frozen=True)
class List:
    """A list whose every item is a `spec`."""

    spec: Any


_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "an object",
}


def _type_name(value) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "object"}.get(
        type(value), type(value).__name__
    )


def _check(value, spec, where: str) -> str | None:
    """The first mismatch as 'where: problem', None when value meets spec."""
    at = where or "(top level)"
    if isinstance(spec, Opt):
        return None if value is None else _check(value, spec.spec, where)
    if isinstance(spec, Map):
        if not isinstance(value, dict):
            return f"{at}: expected an object, got {_type_name(value)}"
        for k, v in value.items():
            if problem := _check(v, spec.spec, f"{where}.{k}" if where else str(k)):
                return problem
        return None
    if isinstance(spec, List):
        if not isinstance(value, list):
            return f"{at}: expected a list, got {_type_name(value)}"
        for i, v in enumerate(value):
            if problem := _check(v, spec.spec, f"{where}[{i}]"):
                return problem
        return None
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return f"{at}: expected an object, got {_type_name(value)}"
        for k, sub in spec.items():
            if k not in value:
                return f"{f'{where}.{k}' if where else k}: missing"
            if problem := _check(value[k], sub, f"{where}.{k}" if where else k):
                return problem
        return None
    if spec is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif spec is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, spec)
    return None if ok else f"{at}: expected {_NAMES[spec]}, got {_type_name(value)}"


TEACHER_RECORD = {"wins": int, "mean_score": float, "lang_ok_rate": float, "mean_score_on_selected_prompts": Opt(float)}
PROBE_RECORD = {"probe_wins": int, "probe_win_rate": float, "probe_mean_score": float, "probe_lang_ok_rate": float}
WIN_SUMMARY = {
    "model": str,
    "n_prompts": int,
    "win_rate": float,
    "ci_low": float,
    "ci_high": float,
    "wins": int,
    "ties": int,
    "losses": int,
    "first_position_rate": float,
}
SAMPLE_SCORES = {"mean_score": float, "lang_ok_rate": float, "n_samples": int}

JSON_SCHEMAS: dict[str, Any] = {
    # select_arbitrage: results/{scale}/arbitrage/{lang}.wins.json
    "teacher_wins": {
        "lang": str,
        "n_prompts": int,
        "n_selected": int,
        "n_no_valid_completion": int,
        "selected_mean_score": Opt(float),
        "teachers": Map(TEACHER_RECORD),
    },
    # summarize_arbitrage: every language's win table in one
    "arbitrage_summary": {
        "languages": Map(
            {
                "wins": Map(int),
                "top_teacher": Opt(str),
                "n_prompts": int,
                "n_selected": int,
                "selected_mean_score": Opt(float),
                "teacher_mean_score_on_selected_prompts": Map(Opt(float)),
                "beats_every_teacher": bool,
            }
        ),
        "total_wins": Map(int),
        "languages_where_arbitrage_beats_every_teacher": int,
        "n_languages": int,
    },
    # route_teachers: one language's routing decision
    "routing": {
        "lang": str,
        "routing": str,
        "top_k": int,
        "teachers": Map(PROBE_RECORD),
        "selected": List(str),
        "n_prompts": int,
        "n_probe": int,
        "n_rest": int,
        "generations": int,
        "generations_all": int,
        "saved_fraction": float,
        "probe_ids": List(str),
    },
    # measure_arbiter: the arbiters' accuracy on held-out tiny preference pairs
    "arbiter_accuracy": {
        "n_pairs": int,
        "accuracy": Map(float),
        "by_kind": Map(Map(float)),
        "configured": str,
        "best": str,
    },
    # a training stage's metrics (checkpoints/{family}/{stage}.metrics.json)
    "training_metrics": {
        "train_rows": int,
        "dev_rows": int,
        "global_step": int,
        "eval_before": dict,
        "eval_after": dict,
        "train": List(dict),
    },
    # summarize_training: per family
    "training_summary": Map(
        {
            "languages": List(str),
            "stages": Map(
                {
                    "global_step": int,
                    "train_rows": int,
                    "dev_rows": int,
                    "dev_before": dict,
                    "dev_after": dict,
                    "last_train_log": dict,
                }
            ),
            "online_samples": Map(Map(SAMPLE_SCORES)),
        }
    ),
    # search_merge_weights
    "merge_search": {
        "method": str,
        "budget": int,
        "max_language_drop": float,
        "families": List(str),
        "chosen": {"index": int, "weights": Map(float), "objective": float, "gain_over_hand_set": float},
        "candidates": List(dict),
    },
    # judge_pairwise: one language's win-rates against every opponent
    "winrates": {
        "lang": str,
        "model": str,
        "judge": str,
        "n_test_prompts": int,
        "unparsed_verdicts": int,
        "opponents": Map(WIN_SUMMARY),
    },
    # run_benchmark: one model on one lm-eval benchmark, per language
    "benchmark": {
        "benchmark": str,
        "model": str,
        "metric": str,
        "lm_eval_version": str,
        "num_fewshot": Opt(int),
        "languages": Map({"value": Opt(float)}),
    },
    # lineage: every artifact of a scale, the job that made it and its cost
    "lineage": {
        "scale": str,
        "code": dict,
        "n_jobs": int,
        "n_artifacts": int,
        "summary": dict,
        "artifacts": Map({"job": str, "sha256": Opt(str)}),
        "jobs": Map(dict),
    },
    # the code stage of a DVC pipeline: one entry's modules and their hash (expanse.fingerprint)
    "code": {"entry": str, "sha256": str, "modules": List(str)},
    # tiny teachers: each one's held-out loss per language
    "teacher_heldout_loss": {"loss": Map(Map(float)), "best": Map(str)},
    # eval_report's numbers for `dvc metrics`: win-rate per opponent and accuracy per benchmark and
    # model, each per language with their mean (null when there is none)
    "report_metrics": {"winrate": Map(Map(Opt(float))), "accuracy": Map(Map(Map(Opt(float))))},
}


def check(obj, contract: str, path) -> None:
    """Raise DataError ('<path>: <contract>: <key path>: <problem>') when obj breaks the contract."""
    if contract not in JSON_SCHEMAS:
        raise KeyError(f"no JSON contract {contract!r} (known: {', '.join(sorted(JSON_SCHEMAS))})")
    if problem := _check(obj, JSON_SCHEMAS[contract], ""):
        raise DataError(f"{path}: {contract}: {problem}")
