"""Every JSON artifact of the built graph has a contract (expanse/contracts.py) and meets it: the
artifact paths of expanse.layout that end in .json each name theirs here, and no other JSON file is
built outside the model directories (whose config and tokenizer files are transformers')."""

from __future__ import annotations

import json
import re

from expanse import contracts
from expanse import layout as L

CONTRACT_OF = {
    L.TEACHER_HELDOUT_LOSS: "teacher_heldout_loss",
    L.ARBITER_ACCURACY: "arbiter_accuracy",
    L.WINS: "teacher_wins",
    L.ARBITRAGE_SUMMARY: "arbitrage_summary",
    L.ROUTING: "routing",
    L.CHECKPOINT_METRICS: "training_metrics",
    L.TRAINING_SUMMARY: "training_summary",
    L.MERGE_SEARCH: "merge_search",
    L.WINRATE: "winrates",
    L.BENCHMARK_RESULT: "benchmark",
    L.REPORT_METRICS: "report_metrics",
    L.LINEAGE: "lineage",
    L.CODE: "code",
}
# directories whose JSON files are a model's own (config.json, tokenizer_config.json, ...)
MODEL_DIRS = re.compile(r"^results/[^/]+/(models|checkpoints/[^/]+/[^/.]+|merged|merges)/")


def _regex(pattern: str) -> re.Pattern:
    parts = re.split(r"(\{\w+\})", pattern)
    # an entry (a script's path) spans folders; every other wildcard is one path part
    any_part = {"{entry}": ".+"}
    return re.compile(
        "".join(any_part.get(p, "[^/]+") if re.fullmatch(r"\{\w+\}", p) else re.escape(p) for p in parts) + "$"
    )


def test_every_json_pattern_of_the_layout_has_a_known_contract():
    patterns = {v for k, v in vars(L).items() if k.isupper() and isinstance(v, str) and v.endswith(".json")}
    assert patterns == set(CONTRACT_OF)
    assert set(CONTRACT_OF.values()) <= set(contracts.JSON_SCHEMAS)


def test_every_built_json_artifact_meets_its_contract(built):
    regexes = [(_regex(p), c) for p, c in CONTRACT_OF.items()]
    checked = set()
    for path in sorted((built / "results").rglob("*.json")):
        rel = path.relative_to(built).as_posix()
        matching = [c for rx, c in regexes if rx.match(rel)]
        if not matching:
            assert MODEL_DIRS.match(rel), f"{rel}: a JSON artifact without a contract"
            continue
        assert len(set(matching)) == 1, (rel, matching)
        contracts.check(json.loads(path.read_text(encoding="utf-8")), matching[0], rel)
        checked.add(matching[0])
    # the shrunk graph builds every kind but the routing decisions (routing: all) and the code files
    # (the DVC pipeline's code stage writes those)
    assert checked >= set(CONTRACT_OF.values()) - {"routing", "code"}, set(CONTRACT_OF.values()) - checked
