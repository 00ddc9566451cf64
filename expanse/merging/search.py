"""Merge-weight search: which family weights make the best merged model, as the arbiter judges it
on each language's dev prompts.

Every candidate is a weight vector over the families (normalised to sum 1). It is merged, answers
every language's dev prompts (greedy), and the arbiter scores the answers; a candidate's score per
language is the mean arbiter score there. Candidate 0 is the hand-set weights (params.yaml
`families`). The objective is the mean over languages, under a floor: a candidate is feasible only
if no language's score falls more than `max_language_drop` below its score under the hand-set
weights (so no language is sacrificed for the average). The chosen weights are the feasible
candidate with the best objective (the hand-set weights are always feasible).

Methods: `random` (budget - 1 seeded draws from a flat Dirichlet) and `coordinate` (from the
hand-set weights, scale one family's weight up or down by `step` at a time, keep what improves,
halve the step after a round without improvement).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from expanse.errors import ConfigError

if TYPE_CHECKING:
    from expanse.arbiter.config import ArbiterCfg
    from expanse.generation.config import GenerationCfg
    from expanse.merging.config import MergeCfg
    from expanse.schema import ModelSource

Evaluate = Callable[[list[float]], dict[str, float]]


def normalise(weights: list[float]) -> list[float]:
    total = sum(weights)
    if total <= 0 or any(w < 0 for w in weights):
        raise ConfigError(f"merge weights: must be non-negative with a positive sum, got {weights}")
    return [round(w / total, 6) for w in weights]


def assess(scores: dict[str, float], reference: dict[str, float], max_language_drop: float) -> dict:
    """Objective (mean over languages), the worst language's change against the reference, and
    whether the candidate respects the floor."""
    deltas = {lang: scores[lang] - reference[lang] for lang in reference}
    worst = min(deltas, key=lambda lang: (deltas[lang], lang))
    return {
        "objective": round(sum(scores.values()) / len(scores), 6),
        "worst_language": worst,
        "worst_delta": round(deltas[worst], 6),
        "feasible": deltas[worst] >= -max_language_drop - 1e-12,
    }


def search(
    evaluate: Evaluate,
    *,
    families: list[str],
    start: list[float],
    method: str,
    budget: int,
    max_language_drop: float,
    seed: int,
    step: float = 0.5,
) -> dict:
    """Run the search; every evaluated candidate is in `candidates`, in the order evaluated (the
    trace), with its per-language scores and assessment; `chosen` is the best feasible one."""
    if method not in ("random", "coordinate"):
        raise ConfigError(f"merge.search.method: unknown merge search method {method!r} (known: random, coordinate)")
    candidates: list[dict] = []

    def run(weights: list[float], note: str) -> dict:
        weights = normalise(weights)
        scores = {lang: round(float(v), 6) for lang, v in evaluate(weights).items()}
        reference = candidates[0]["scores"] if candidates else scores
        c = {
            "index": len(candidates),
            "weights": dict(zip(families, weights)),
            "scores": dict(sorted(scores.items())),
            **assess(scores, reference, max_language_drop),
            "note": note,
        }
        candidates.append(c)
        print(
            f"candidate {c['index']} ({note}): {c['weights']} -> {c['objective']:.4f} "
            f"(worst {c['worst_language']} {c['worst_delta']:+.4f}{'' if c['feasible'] else ', below the floor'})",
            flush=True,
        )
        return c

    best = run(start, "hand-set")
    rng = random.Random(seed)
    if method == "random":
        for _ in range(budget - 1):
            run([rng.gammavariate(1.0, 1.0) for _ in families], "random")
    else:
        current, size = list(best["weights"].values()), step
        while len(candidates) < budget:
            improved = False
            for i, family in enumerate(families):
                for sign in (1, -1):
                    if len(candidates) >= budget:
                        break
                    trial = list(current)
                    trial[i] *= 1 + sign * size
                    if sum(trial) <= 0:
                        continue
                    c = run(trial, f"{family} x{1 + sign * size:g}")
                    if c["feasible"] and c["objective"] > best["objective"]:
                        best, current, improved = c, list(c["weights"].values()), True
            if not improved:
                size /= 2
    feasible = [c for c in candidates if c["feasible"]]
    chosen = max(feasible, key=lambda c: (c["objective"], -c["index"]))
    return {
        "method": method,
        "budget": budget,
        "max_language_drop": max_language_drop,
        "families": families,
        "chosen": {
            "index": chosen["index"],
            "weights": chosen["weights"],
            "objective": chosen["objective"],
            "gain_over_hand_set": round(chosen["objective"] - candidates[0]["objective"], 6),
        },
        "candidates": candidates,
    }


# ------------------------------------------------------------------------------------ the real evaluation
def dev_prompts(prompt_paths: list[str]) -> dict[str, list[tuple[str, str]]]:
    """(id, prompt) of each language's dev split, by language."""
    import polars as pl

    from expanse.io import read_parquet

    out = {}
    for path in prompt_paths:
        df = read_parquet(path, "prompts").filter(pl.col("split") == "dev")
        if df.height:
            out[df["lang"][0]] = list(zip(df["id"].to_list(), df["prompt"].to_list()))
    if not out:
        raise ConfigError("prompts.dev_fraction: no language has dev prompts for the merge search (is it 0?)")
    return out


def evaluator(
    *,
    checkpoints: list[str],
    families: list[str],
    merge: MergeCfg,
    base: str | None,
    prompts: dict,
    generation: GenerationCfg,
    arbiter: ArbiterCfg,
    reward_model: ModelSource | None,
    load: dict,
    seed: int,
    gpus: int,
    workdir: Path,
) -> Evaluate:
    """evaluate(weights): merge into workdir, answer every dev prompt greedily, score with the arbiter."""
    from expanse.arbiter import score_rows, uses_reward_model
    from expanse.generation import get_backend
    from expanse.merging.engine import merge_checkpoints
    from expanse.merging.run import engine_options

    rm = None
    if uses_reward_model(arbiter.method):
        from expanse.arbiter.reward_model import load_reward_model

        rm = load_reward_model(reward_model, batch_size=arbiter.batch_size, gpus=gpus)
    greedy = generation.replaced(temperature=0.0)
    items = [(lang, pid, text) for lang, rows in sorted(prompts.items()) for pid, text in rows]

    def evaluate(weights: list[float]) -> dict[str, float]:
        out = workdir / "candidate"
        merge_checkpoints(
            checkpoints,
            out,
            weights=weights,
            base=base,
            **engine_options(merge),
            made_by={"families": dict(zip(families, weights)), "after": "merge search"},
        )
        backend = get_backend(greedy.backend)(str(out), load=load, generation=greedy, seed=seed, gpus=gpus)
        answers = backend.generate([[{"role": "user", "content": text}] for _, _, text in items], n=1)
        del backend
        rows = [
            {"prompt": text, "completion": outs[0].text, "lang": lang} for (lang, _, text), outs in zip(items, answers)
        ]
        verdicts = score_rows(
            rows,
            method=arbiter.method,
            weights=arbiter.weights,
            min_lang_prob=arbiter.min_lang_prob,
            target_chars=arbiter.target_chars,
            high_accuracy=arbiter.lingua_high_accuracy,
            reward_model=rm,
        )
        per: dict[str, list[float]] = {}
        for (lang, _, _), v in zip(items, verdicts):
            per.setdefault(lang, []).append(v["score"])
        return {lang: sum(v) / len(v) for lang, v in per.items()}

    return evaluate


def run_search(
    *,
    checkpoints: list[str],
    prompt_paths: list[str],
    out_path: str,
    families: list[str],
    weights: list[float],
    merge: MergeCfg,
    base: str | None,
    generation: GenerationCfg,
    arbiter: ArbiterCfg,
    reward_model: ModelSource | None,
    load: dict,
    seed: int,
    gpus: int = 0,
) -> dict:
    import tempfile

    from expanse.io import write_json

    cfg = merge.search
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", suffix=".work", dir=out.parent) as workdir:
        evaluate = evaluator(
            checkpoints=checkpoints,
            families=families,
            merge=merge,
            base=base,
            prompts=dev_prompts(prompt_paths),
            generation=generation,
            arbiter=arbiter,
            reward_model=reward_model,
            load=load,
            seed=seed,
            gpus=gpus,
            workdir=Path(workdir),
        )
        result = search(
            evaluate,
            families=families,
            start=weights,
            method=cfg.method,
            budget=cfg.budget,
            max_language_drop=cfg.max_language_drop,
            seed=seed,
            step=cfg.step,
        )
    write_json(result, out_path, contract="merge_search")
    return result
