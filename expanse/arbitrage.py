"""Data arbitrage: for each prompt, the best completion across the teacher pool becomes SFT data.

Candidates are ranked by (lang_ok, score): a completion in the wrong language never outranks one
in the right language, and a prompt whose every completion is in the wrong language gets no SFT
row. Ties in score break by teacher name, then sample, so the result is deterministic.
"""

from __future__ import annotations

import polars as pl

from expanse.errors import DataError
from expanse.io import read_json, read_parquet, write_json, write_parquet


def rank(scores: pl.DataFrame) -> pl.DataFrame:
    """Candidates per prompt, best first, with `rank` 0..n-1."""
    ranked = scores.sort(
        ["prompt_id", "lang_ok", "score", "model", "sample"],
        descending=[False, True, True, False, False],
        nulls_last=True,
    )
    return ranked.with_columns(pl.int_range(pl.len()).over("prompt_id").alias("rank"))


def load_scores(paths: list[str]) -> pl.DataFrame:
    """Every scores file of a language in one table (each checked against the scores contract)."""
    return pl.concat([read_parquet(p, "scores") for p in paths])


def select(scores: pl.DataFrame, prompts: pl.DataFrame) -> pl.DataFrame:
    """Best valid completion per prompt; margin = its score minus the runner-up's (null if alone)."""
    ranked = rank(scores)
    runner_up = ranked.filter(pl.col("rank") == 1).select("prompt_id", pl.col("score").alias("second"))
    best = (
        ranked.filter((pl.col("rank") == 0) & pl.col("lang_ok"))
        .join(runner_up, on="prompt_id", how="left")
        .join(prompts.select(pl.col("id").alias("prompt_id"), "prompt"), on="prompt_id", how="left")
    )
    return best.select(
        "prompt_id",
        "lang",
        "prompt",
        "completion",
        pl.col("model").alias("teacher"),
        "score",
        (pl.col("score") - pl.col("second")).alias("margin"),
    ).sort("prompt_id")


def win_table(scores: pl.DataFrame, selected: pl.DataFrame, lang: str) -> dict:
    """How often each teacher won, each teacher's mean score and language-ok rate, and the mean
    score of the arbitraged set against each single teacher on the same prompts."""
    teachers = sorted(scores["model"].unique().to_list())
    wins = selected.group_by("teacher").len()
    wins = dict(zip(wins["teacher"], wins["len"]))
    on_selected = scores.filter(pl.col("prompt_id").is_in(selected["prompt_id"].implode()))
    per_teacher = {}
    for t in teachers:
        own = scores.filter(pl.col("model") == t)
        same = on_selected.filter(pl.col("model") == t)
        per_teacher[t] = {
            "wins": int(wins.get(t, 0)),
            "mean_score": round(float(own["score"].mean()), 6),
            "lang_ok_rate": round(float(own["lang_ok"].mean()), 6),
            "mean_score_on_selected_prompts": round(float(same["score"].mean()), 6) if same.height else None,
        }
    n_prompts = scores["prompt_id"].n_unique()
    return {
        "lang": lang,
        "n_prompts": n_prompts,
        "n_selected": selected.height,
        "n_no_valid_completion": n_prompts - selected.height,
        "selected_mean_score": round(float(selected["score"].mean()), 6) if selected.height else None,
        "teachers": per_teacher,
    }


def run_selection(score_paths: list[str], prompts_path: str, out_path: str, wins_path: str, *, lang: str) -> dict:
    """Rule select_arbitrage: the best completion per prompt (SFT rows) and the teachers' win table."""
    scores = load_scores(score_paths)
    prompts = read_parquet(prompts_path, "prompts")
    selected = select(scores, prompts)
    table = win_table(scores, selected, lang)
    write_parquet(selected, out_path, contract="arbitrage")
    write_json(table, wins_path, contract="teacher_wins")
    return table


def summarize(wins_paths: list[str], out_path: str) -> dict:
    """All languages' win tables in one: per language the winning teacher counts, and whether the
    arbitraged set beats every single teacher in mean arbiter score on the same prompts."""
    per_lang, totals = {}, {}
    for path in wins_paths:
        table = read_json(path, "teacher_wins")
        teachers = table["teachers"]
        singles = {t: v["mean_score_on_selected_prompts"] for t, v in teachers.items()}
        selected = table["selected_mean_score"]
        per_lang[table["lang"]] = {
            "wins": {t: v["wins"] for t, v in teachers.items()},
            "top_teacher": max(sorted(teachers), key=lambda t: teachers[t]["wins"]) if table["n_selected"] else None,
            "n_prompts": table["n_prompts"],
            "n_selected": table["n_selected"],
            "selected_mean_score": selected,
            "teacher_mean_score_on_selected_prompts": singles,
            "beats_every_teacher": selected is not None and all(s is None or selected >= s for s in singles.values()),
        }
        for t, v in teachers.items():
            totals[t] = totals.get(t, 0) + v["wins"]
    summary = {
        "languages": per_lang,
        "total_wins": totals,
        "languages_where_arbitrage_beats_every_teacher": sum(v["beats_every_teacher"] for v in per_lang.values()),
        "n_languages": len(per_lang),
    }
    write_json(summary, out_path, contract="arbitrage_summary")
    return summary


# ------------------------------------------------------------------------------------ routing
# Budgeted arbitrage (scales.<scale>.arbitrage.routing: learned): every teacher answers a probe
# sample of a language's prompts; the arbiter's wins on the probe choose the language's top_k
# teachers; only they answer the rest. select() then picks the best per prompt from what exists.
GENERATED_SPLITS = ("train", "dev")  # the prompts teachers answer (test is for eval)


def probe_ids(ids: list[str], *, fraction: float, min_probe: int, seed: int) -> list[str]:
    """The probe sample: a seeded, order-independent choice of max(min_probe, ceil(fraction * n))
    prompt ids (all of them if there are fewer), sorted."""
    import hashlib
    import math

    n = min(len(ids), max(min_probe, math.ceil(fraction * len(ids))))
    keyed = sorted(ids, key=lambda i: (hashlib.sha256(f"{seed}:{i}".encode()).hexdigest(), i))
    return sorted(keyed[:n])


def generated_prompts(prompts: pl.DataFrame) -> pl.DataFrame:
    """The prompts teachers answer (train and dev), not the held-out test prompts."""
    return prompts.filter(pl.col("split").is_in(list(GENERATED_SPLITS)))


def route(probe_scores: pl.DataFrame, teachers: list[str], *, top_k: int) -> dict:
    """Per teacher: probe wins (best valid completion of a prompt, as select() decides), win rate,
    mean score and language-ok rate; the top_k teachers by wins, then mean score, then name."""
    ranked = rank(probe_scores)
    winners = ranked.filter((pl.col("rank") == 0) & pl.col("lang_ok")).group_by("model").len()
    wins = dict(zip(winners["model"].to_list(), winners["len"].to_list()))
    n_probe = probe_scores["prompt_id"].n_unique()
    table = {}
    for t in teachers:
        own = probe_scores.filter(pl.col("model") == t)
        if own.height == 0:
            raise DataError(f"probe scores: teacher {t!r} has no probe scores")
        table[t] = {
            "probe_wins": int(wins.get(t, 0)),
            "probe_win_rate": round(wins.get(t, 0) / n_probe, 6),
            "probe_mean_score": round(float(own["score"].mean()), 6),
            "probe_lang_ok_rate": round(float(own["lang_ok"].mean()), 6),
        }
    ranked = sorted(teachers, key=lambda t: (-table[t]["probe_wins"], -table[t]["probe_mean_score"], t))
    return {"teachers": table, "selected": ranked[:top_k]}


def run_routing(
    score_paths: list[str],
    prompts_path: str,
    out_path: str,
    *,
    lang: str,
    teachers: list[str],
    top_k: int,
    probe: dict,
    seed: int,
) -> dict:
    """The routing decision of one language (JSON): the probe ids, each teacher's probe record, the
    selected teachers, and how many generations routing makes against asking every teacher."""
    prompts = generated_prompts(read_parquet(prompts_path, "prompts"))
    ids = probe_ids(prompts["id"].to_list(), seed=seed, **probe)
    scores = load_scores(score_paths)
    if sorted(scores["prompt_id"].unique().to_list()) != ids:
        raise DataError(
            f"{lang}: the probe scores ({len(score_paths)} files) do not cover exactly the probe prompts "
            f"({len(ids)}) of {prompts_path}"
        )
    decision = route(scores, teachers, top_k=top_k)
    n, n_probe = prompts.height, len(ids)
    made, every = n_probe * len(teachers) + (n - n_probe) * len(decision["selected"]), n * len(teachers)
    out = {
        "lang": lang,
        "routing": "learned",
        "top_k": top_k,
        **decision,
        "n_prompts": n,
        "n_probe": n_probe,
        "n_rest": n - n_probe,
        "generations": made,
        "generations_all": every,
        "saved_fraction": round(1 - made / every, 6) if every else 0.0,
        "probe_ids": ids,
    }
    write_json(out, out_path, contract="routing")
    return out


def rest_ids(prompts: pl.DataFrame, routing: dict) -> list[str]:
    """The generated prompts left after the routing probe: those only the selected teachers answer."""
    probe = set(routing["probe_ids"])
    return [i for i in generated_prompts(prompts)["id"].to_list() if i not in probe]
