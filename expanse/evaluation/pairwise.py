"""Per-language pairwise evaluation: the model under test (the merged model) against each opponent
on the held-out test prompts, judged in both orders, with bootstrap intervals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from expanse.errors import DataError
from expanse.evaluation.judges import get_judge
from expanse.evaluation.winrate import outcome, summarize

if TYPE_CHECKING:
    from expanse.evaluation.config import JudgeCfg
    from expanse.generation.config import GenerationCfg
    from expanse.schema import ModelSource


def load_answers(path: str, prompt_ids: list[str]) -> list[str]:
    """One answer per test prompt (sample 0), in `prompt_ids` order."""
    import polars as pl

    from expanse.io import read_parquet

    answers = read_parquet(path, "generations").filter(pl.col("sample") == 0)
    by_id = dict(zip(answers["prompt_id"], answers["completion"]))
    missing = [pid for pid in prompt_ids if pid not in by_id]
    if missing:
        raise DataError(f"{path}: no answer for test prompt {missing[0]!r} ({len(missing)} missing)")
    return [by_id[pid] for pid in prompt_ids]


def judge_language(
    *,
    lang: str,
    prompts_path: str,
    model: str,
    answers: dict[str, str],
    opponents: dict[str, str],
    judge: JudgeCfg,
    judge_model: ModelSource,
    generation: GenerationCfg,
    bootstrap: int,
    seed: int,
    gpus: int = 0,
):
    """`answers`: model name -> answers file; `opponents`: label -> model name. Returns the
    per-language summary and the judgement rows."""
    import polars as pl

    from expanse.io import read_parquet

    test = read_parquet(prompts_path, "prompts").filter(pl.col("split") == "test")
    if test.height == 0:
        raise DataError(f"{prompts_path}: no test prompts for {lang}")
    ids, prompts = test["id"].to_list(), test["prompt"].to_list()
    texts = {name: load_answers(path, ids) for name, path in answers.items()}
    judge_obj = get_judge(judge.method)(model=judge_model, judge=judge, generation=generation, seed=seed, gpus=gpus)
    summaries, rows = {}, []
    for name in dict.fromkeys(opponents.values()):
        first = judge_obj.compare(prompts, texts[model], texts[name], lang)
        second = judge_obj.compare(prompts, texts[name], texts[model], lang)
        summaries[name] = summarize(first, second, samples=bootstrap, seed=seed)
        for order, verdicts, side in (("model_first", first, "A"), ("model_second", second, "B")):
            rows += [
                {
                    "prompt_id": pid,
                    "lang": lang,
                    "opponent": name,
                    "order": order,
                    "verdict": v,
                    "outcome": outcome(v, side),
                }
                for pid, v in zip(ids, verdicts)
            ]
    result = {
        "lang": lang,
        "model": model,
        "judge": judge.method,
        "n_test_prompts": len(ids),
        "unparsed_verdicts": judge_obj.unparsed,
        "opponents": {label: {"model": name, **summaries[name]} for label, name in opponents.items()},
    }
    return result, rows


def run_judging(out_json: str, out_parquet: str, **kwargs) -> None:
    import polars as pl

    from expanse.io import write_json, write_parquet

    result, rows = judge_language(**kwargs)
    write_parquet(
        pl.DataFrame(
            rows,
            schema={
                "prompt_id": pl.String,
                "lang": pl.String,
                "opponent": pl.String,
                "order": pl.String,
                "verdict": pl.String,
                "outcome": pl.Float64,
            },
        ),
        out_parquet,
    )
    write_json(result, out_json, contract="winrates")


def best_teacher(wins_path: str) -> str:
    """The teacher that won the most arbitrage prompts of the language (ties: higher mean score,
    then name), from select_arbitrage's {lang}.wins.json."""
    from expanse.io import read_json

    teachers = read_json(wins_path, "teacher_wins")["teachers"]
    if not teachers:
        raise DataError(f"{wins_path}: no teachers")
    return min(teachers, key=lambda t: (-teachers[t]["wins"], -teachers[t]["mean_score"], t))
