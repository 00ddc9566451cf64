"""Every artifact path of the workflow, in one place.

Each name is a Snakemake wildcard pattern under results/{scale}/; the rules use them as they are
(`output: L.PROMPTS`), the library fills them with `fill` (`fill(L.PROMPTS, scale="tiny",
lang="fr")`). A pattern names its artifact's identity ({scale}, {lang}, {teacher}, {family},
{stage}, {it}, {model}, {bench}): code receives those values as params, never by parsing a path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

RESULTS_DIR = "results"  # every artifact is under it; git and DVC ignore it (DVC tracks the outs itself)
RESULTS = f"{RESULTS_DIR}/{{scale}}"

# the tiny scale's own models and data (rules/tiny.smk); a model entry {tiny: ...} is built here
CORPUS = f"{RESULTS}/corpus.parquet"
TOKENIZER = f"{RESULTS}/models/tokenizer"
MODEL = f"{RESULTS}/models/{{role}}"  # base, reward_model
BASE_MODEL = f"{RESULTS}/models/base"
REWARD_MODEL = f"{RESULTS}/models/reward_model"
TEACHER_MODEL = f"{RESULTS}/models/teachers/{{teacher}}"
TEACHER_HELDOUT_LOSS = f"{RESULTS}/models/teacher_heldout_loss.json"
ARBITER_ACCURACY = f"{RESULTS}/models/arbiter_accuracy.json"

# the fingerprint of an entry's code (a script, or a package run as `python -m`: its path under the
# root) and the project modules it imports; the DVC stages depend on it (expanse.dvc_pipeline)
CODE = f"{RESULTS}/code/{{entry}}.json"

# data arbitrage
PROMPTS = f"{RESULTS}/prompts/{{lang}}.parquet"
GENERATIONS = f"{RESULTS}/generations/{{lang}}/{{teacher}}.parquet"
SCORES = f"{RESULTS}/scores/{{lang}}/{{teacher}}.parquet"
ARBITRAGE = f"{RESULTS}/arbitrage/{{lang}}.parquet"
WINS = f"{RESULTS}/arbitrage/{{lang}}.wins.json"
ARBITRAGE_SUMMARY = f"{RESULTS}/arbitrage/summary.json"
OFFLINE_PAIRS = f"{RESULTS}/pairs/offline/{{lang}}.parquet"

# learned routing: probe every teacher on a slice, route the rest
ROUTING = f"{RESULTS}/routing/{{lang}}.json"
PROBE_GENERATIONS = f"{RESULTS}/routing/probe/{{lang}}/{{teacher}}.generations.parquet"
PROBE_SCORES = f"{RESULTS}/routing/probe/{{lang}}/{{teacher}}.scores.parquet"
REST_GENERATIONS = f"{RESULTS}/routing/rest/{{lang}}.generations.parquet"
REST_SCORES = f"{RESULTS}/routing/rest/{{lang}}.scores.parquet"

# training, per family: {stage} is sft, dpo or online_it<N>
CHECKPOINT = f"{RESULTS}/checkpoints/{{family}}/{{stage}}"
CHECKPOINT_METRICS = f"{RESULTS}/checkpoints/{{family}}/{{stage}}.metrics.json"
RESUME = f"{RESULTS}/resume/{{family}}/{{stage}}"
TRAINING_SUMMARY = f"{RESULTS}/checkpoints/summary.json"
ONLINE_SAMPLES = f"{RESULTS}/online/{{family}}/it{{it}}/samples/{{lang}}.parquet"
ONLINE_SCORES = f"{RESULTS}/online/{{family}}/it{{it}}/scores/{{lang}}.parquet"
ONLINE_PAIRS = f"{RESULTS}/online/{{family}}/it{{it}}/pairs/{{lang}}.parquet"

# merge: the final model, and the merges after a stage ({stage}: sft, dpo, online)
MERGED = f"{RESULTS}/merged"
STAGE_MERGE = f"{RESULTS}/merges/{{stage}}"
MERGE_SEARCH = f"{RESULTS}/merge_search.json"

# eval: the held-out test prompts (the test split of PROMPTS, prepared from the eval file alone)
EVAL_PROMPTS = f"{RESULTS}/eval/prompts/{{lang}}.parquet"
EVAL_ANSWERS = f"{RESULTS}/eval/answers/{{lang}}/{{model}}.parquet"
JUDGEMENTS = f"{RESULTS}/eval/judgements/{{lang}}.parquet"
WINRATE = f"{RESULTS}/eval/winrates/{{lang}}.json"
WINRATES_CSV = f"{RESULTS}/eval/winrates.csv"
ACCURACY_CSV = f"{RESULTS}/eval/accuracy.csv"
BENCHMARK_RESULT = f"{RESULTS}/eval/benchmarks/{{bench}}/{{model}}.json"
REPORT_HTML = f"{RESULTS}/eval/report.html"
REPORT_MD = f"{RESULTS}/eval/report.md"
REPORT_METRICS = f"{RESULTS}/eval/metrics.json"
REPORT_PLOTS = f"{RESULTS}/eval/plots"
LINEAGE = f"{RESULTS}/eval/lineage.json"

_FIELD = re.compile(r"\{(\w+)\}")


def fields(pattern: str) -> list[str]:
    """The wildcards of a pattern, in order."""
    return _FIELD.findall(pattern)


def fill(pattern: str, **values) -> str:
    """The pattern with the given wildcards filled; the others stay wildcards (so a rule can use
    the result as a pattern). Naming a wildcard the pattern does not have is a programming error."""
    extra = set(values) - set(fields(pattern))
    if extra:
        raise ValueError(f"{pattern}: no wildcard {', '.join(sorted(extra))}")
    return _FIELD.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), pattern)


def every(pattern: str, key: str, values: Iterable, **fixed) -> list[str]:
    """The pattern filled once per value of wildcard `key` (and with `fixed`), in order."""
    return [fill(pattern, **fixed, **{key: v}) for v in values]
