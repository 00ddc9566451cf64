"""expanse.graph, the one module that reads Snakemake's job graph (with private calls): pinned to the
Snakemake version it was written against, and its surface checked on a small real workflow."""

from pathlib import Path

from conftest import REPO

from expanse import graph

SNAKEFILE = """
PARAMS = {"width": 3}


def width(wildcards):
    return PARAMS["width"] * len(wildcards.name)


rule all:
    input:
        "out/b/model",


rule make:
    output:
        "out/{name}.txt",
    log:
        "logs/make/{name}.log",
    shell:
        "echo {wildcards.name} > {output} 2> {log}"


rule train:
    input:
        data="out/{name}.txt",
        extra=["out/x.txt", "out/y.txt"],
    output:
        model=directory("out/{name}/model"),
        card="out/{name}/card.md",
    log:
        "logs/train/{name}.log",
    benchmark:
        "benchmarks/train/{name}.tsv"
    resources:
        gpu=2,
    params:
        width=width,
        label="fixed",
    shell:
        "mkdir -p {output.model} && touch {output.card} 2> {log}"
"""


def test_the_graph_module_is_written_against_the_installed_snakemake():
    assert graph.snakemake_version() == graph.SNAKEMAKE_VERSION, (
        f"Snakemake {graph.snakemake_version()} is installed; expanse/graph.py was written against "
        f"{graph.SNAKEMAKE_VERSION}: re-check its private calls (_workflow, _prepare_dag, _build_dag, _names) "
        "and then update SNAKEMAKE_VERSION and pyproject.toml's pin"
    )
    pin = [line for line in (REPO / "pyproject.toml").read_text().splitlines() if '"snakemake==' in line]
    assert pin and f'"snakemake=={graph.SNAKEMAKE_VERSION}"' in pin[0]


def test_jobs_dependencies_and_params_of_a_planned_graph(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    with graph.load(tmp_path, ["all"]) as g:
        jobs = {j.name: j for j in g.jobs}
        assert set(jobs) == {"make-b", "make-x", "make-y", "train-b"}  # the target rule makes nothing
        train = jobs["train-b"]
        assert train.rule == "train" and train.wildcards == {"name": "b"}
        assert train.rule_file == (tmp_path / "Snakefile").resolve() and train.script is None
        assert train.inputs == [("data", "out/b.txt"), ("extra", "out/x.txt"), ("extra", "out/y.txt")]
        assert train.outputs == [("model", "out/b/model", True), ("card", "out/b/card.md", False)]
        assert train.output_paths == ["out/b/model", "out/b/card.md"]
        assert train.log == ["logs/train/b.log"] and train.benchmark == "benchmarks/train/b.tsv"
        assert train.resources["gpu"] == 2
        assert train.params() == {"width": 3, "label": "fixed"}
        assert callable(train.rule_params["width"]) and train.rule_params["label"] == "fixed"
        assert train.call(train.rule_params["width"]) == 3
        assert sorted(d.name for d in g.dependencies(train)) == ["make-b", "make-x", "make-y"]
        assert g.dependencies(jobs["make-b"]) == []
        assert g.globals("PARAMS") == {"width": 3} and g.config == {}
        assert not g.params_changed(train)  # nothing built: no recorded params to differ from
    assert not (tmp_path / "out").exists()  # planned, not run
    assert Path.cwd() != tmp_path


def test_a_stage_name_drops_the_scale_and_the_characters_dvc_refuses():
    assert graph.stage_name_of("train_online_dpo", {"scale": "tiny", "family": "asian", "it": "2"}) == (
        "train_online_dpo-asian-2"
    )
    assert graph.stage_name_of("run_benchmark", {"scale": "8b", "model": "teacher.euro"}) == (
        "run_benchmark-teacher_euro"
    )
