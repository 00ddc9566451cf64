"""The README's commands, targets and paths exist."""

import re

from conftest import REPO

from expanse.dvc_pipeline import scales_of
from expanse.workflow_support import TARGETS, target_rules

README = (REPO / "README.md").read_text()


def test_make_targets_in_the_readme_exist():
    makefile = (REPO / "Makefile").read_text()
    for target in set(re.findall(r"^make (\w[\w-]*)", README, re.M)):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "make test" in (REPO / ".ci/run").read_text()


def test_target_rules_in_the_readme_exist():
    """`all` and <kind>_<scale> for every scale of params.yaml (the Snakefile makes those rules)."""
    snakefile = (REPO / "Snakefile").read_text()
    assert re.search(r"^rule all:", snakefile, re.M) and "for _kind in TARGET_KINDS:" in snakefile
    known = target_rules(scales_of(REPO))
    kinds = "|".join(TARGETS)
    rules = {m for p in (REPO / "rules").glob("*.smk") for m in re.findall(r"^rule (\w+):", p.read_text(), re.M)}
    targets = set(re.findall(rf"`(all|(?:{kinds})_\w+)`", README)) - rules
    assert {"all", "merged_32b"} <= targets
    for target in targets:
        assert target in known, target


def test_layout_paths_exist():
    for path in [
        "Snakefile",
        "params.yaml",
        "rules/common.smk",
        "scripts",
        "envs",
        "expanse",
        "tests/unit",
        "tests/workflow",
        "tests/slurm",
        "benchmarks/tiny_graph.py",
        "profiles/default/config.yaml",
        "pyproject.toml",
        "slurm/config.yaml",
        "slurm/cluster/up.sh",
        "slurm/cluster/down.sh",
    ]:
        assert path in README or path.split("/")[0] in README, path
        assert (REPO / path).exists(), path


def test_every_rule_has_a_log_and_a_script_named_after_it():
    for smk in (REPO / "rules").glob("*.smk"):
        for block in re.split(r"\n(?=rule )", smk.read_text())[1:]:
            name = re.match(r"rule (\w+):", block).group(1)
            assert "    log:" in block, name
            assert f'"../scripts/{name}.py"' in block, name
            assert len((REPO / f"scripts/{name}.py").read_text().splitlines()) <= 40, name
