"""expanse.layout owns every artifact path: rules and library name its patterns, nothing else
spells a results/ path."""

import ast
import re

import pytest
from conftest import REPO

from expanse import layout as L


def test_fill_fills_the_named_wildcards_and_keeps_the_others():
    assert L.fill(L.PROMPTS, scale="tiny", lang="fr") == "results/tiny/prompts/fr.parquet"
    assert L.fill(L.PROMPTS, lang="fr") == "results/{scale}/prompts/fr.parquet"  # still a rule pattern
    assert L.fill(L.CHECKPOINT, stage="online_it{it}") == "results/{scale}/checkpoints/{family}/online_it{it}"
    assert L.every(L.WINS, "lang", ["ar", "fr"], scale="8b") == [
        "results/8b/arbitrage/ar.wins.json",
        "results/8b/arbitrage/fr.wins.json",
    ]
    assert L.fields(L.ONLINE_PAIRS) == ["scale", "family", "it", "lang"]
    with pytest.raises(ValueError, match="no wildcard teacher"):
        L.fill(L.PROMPTS, teacher="euro")


def test_every_pattern_is_under_the_scale_and_unique():
    patterns = {
        k: v
        for k, v in vars(L).items()
        if k.isupper() and not k.startswith("_") and k not in ("RESULTS_DIR", "RESULTS")
    }
    assert all(v.startswith("results/{scale}/") for v in patterns.values())
    assert len(set(patterns.values())) == len(patterns)


def _code_strings(path):
    """String constants of a Python file, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def test_no_code_but_the_layout_spells_an_artifact_path():
    spelled = [
        f"{p.relative_to(REPO)}: {s!r}"
        for p in sorted((REPO / "expanse").rglob("*.py"))
        if p.name != "layout.py"
        for s in _code_strings(p)
        if re.match(r"results/", s)
    ]
    rules = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
    spelled += [
        f"{p.relative_to(REPO)}:{i}: {line.strip()}"
        for p in rules
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"[\"']results/", line)
    ]
    assert spelled == []
