"""The README's commands, targets and paths exist."""

import re

from conftest import REPO

README = (REPO / "README.md").read_text()


def test_make_targets_in_the_readme_exist():
    makefile = (REPO / "Makefile").read_text()
    for target in set(re.findall(r"^make (\w[\w-]*)", README, re.M)):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "make test" in (REPO / ".ci/run").read_text()


def test_target_rules_in_the_readme_exist():
    snakefile = (REPO / "Snakefile").read_text()
    for target in set(re.findall(r"`(all|arbitrage_\w+|train_\w+|merged_\w+|eval_(?:tiny|8b|32b))`", README)):
        assert re.search(rf"^rule {target}:", snakefile, re.M), target


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
