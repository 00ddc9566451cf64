"""Atomic writes, env pins in sync with pyproject, and the workflow helpers (resources, inputs)."""

import tomllib
from types import SimpleNamespace

import polars as pl
import pytest
import yaml
from conftest import REPO

from expanse import graph
from expanse import workflow_support as ws
from expanse.config import validate
from expanse.errors import ConfigError, DataError
from expanse.io import atomic_path, read_parquet, write_parquet


def test_atomic_write_leaves_nothing_when_the_writer_dies(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "ckpt", directory=True) as tmp:
            (tmp / "model.safetensors").write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_contract_enforced_on_write_and_read(tmp_path):
    with pytest.raises(DataError, match="pairs rows lack column"):
        write_parquet(pl.DataFrame({"prompt_id": ["a"]}), tmp_path / "x.parquet", contract="pairs")
    pl.DataFrame({"id": ["a"]}).write_parquet(tmp_path / "y.parquet")
    with pytest.raises(DataError, match=r"y.parquet: prompts rows lack column\(s\) lang, prompt, split"):
        read_parquet(tmp_path / "y.parquet", "prompts")


def _pins(reqs):
    out = {}
    for r in reqs:
        if "==" in r:
            name, version = r.split("==")
            out[name.strip().lower()] = version.strip()
    return out


def test_envs_parse_and_pin_the_versions_of_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pinned = _pins(project["dependencies"] + [d for ds in project["optional-dependencies"].values() for d in ds])
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert {e.stem for e in envs} >= {"data", "train", "vllm"}
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        assert "python=3.11" in spec["dependencies"]
        for name, version in _pins(pip).items():
            assert pinned.get(name) == version, f"{env.name}: {name}=={version} but pyproject pins {pinned.get(name)}"


def test_every_rule_env_exists():
    for smk in (REPO / "rules").glob("*.smk"):
        for line in smk.read_text().splitlines():
            if line.strip().startswith('"../envs/'):
                assert (REPO / "rules" / line.strip().strip('"')).resolve().exists(), line


def test_resources_come_from_the_scale_table(shipped_params):
    p = validate(shipped_params)
    res = ws.rule_resources(p, "generate")
    tiny, big = SimpleNamespace(scale="tiny"), SimpleNamespace(scale="32b")
    assert res["gpu"](tiny) == 0 and res["gpu_model"](tiny) is None
    assert (res["gpu"](big), res["gpu_model"](big), res["cpus_per_task"](big)) == (4, "h100", 32)
    assert ws.rule_threads(p, "generate")(big) == 32
    # what every scale shares is a plain value, which Snakemake does not evaluate per job
    assert res["nodes"] == 1 and res["mpi"] is None and res["slurm_partition"] is None
    # a class missing from a scale's table falls back to its default entry
    assert ws.resources(p, "8b", "tiny") == p.scales["8b"].resources["default"]


def test_model_inputs_and_refs(shipped_params):
    p = validate(shipped_params)
    assert ws.model_inputs(p, "tiny", "teachers.euro") == ["results/tiny/models/teachers/euro"]
    assert ws.model_inputs(p, "32b", "teachers.gemma2_27b") == []
    ref = ws.model_ref(p, "32b", "teachers.gemma2_27b")
    assert ref == {"location": "google/gemma-2-27b-it", "load": {"use_safetensors": True, "trust_remote_code": False}}
    assert ws.tiny_init_inputs(p, "tiny", "teachers.euro") == ["results/tiny/models/base"]
    spec = ws.tiny_spec(p, "tiny", "teachers.asia")
    assert spec["hidden"] == p.scales["tiny"].base.tiny.hidden and spec["languages"][0] == "zh"
    with pytest.raises(ConfigError, match=r"^scales\.8b\.base is not a tiny model; nothing to build$"):
        ws.tiny_spec(p, "8b", "base")


def test_a_target_params_yaml_does_not_define_is_a_config_error_naming_the_key(params, tmp_path, monkeypatch):
    p = validate(params)
    with pytest.raises(ConfigError, match=r"^scales\.8b has no tiny models$"):
        ws.tiny_build(p, "8b")
    with pytest.raises(ConfigError, match=r"^languages\.fr\.family: 'fr' belongs to family 'romance', not 'germanic'$"):
        ws.check_family(p, "germanic", "fr")
    with pytest.raises(ConfigError, match=r"^eval model 'family\.nope': no family 'nope' in params\.yaml$"):
        ws.eval_model_inputs(p, "tiny", "family.nope")
    with pytest.raises(ConfigError, match=r"^eval model 'teacher\.euro': no teacher 'euro' in scales\.8b\.teachers$"):
        ws.eval_model_ref(p, "8b", "teacher.euro")
    with pytest.raises(ConfigError, match=r"^scales\.tiny\.eval\.benchmarks has no 'nope'$"):
        ws.benchmark_cfg(p, "tiny", "nope")
    # a task folder without the task file of a configured language
    (tmp_path / "tasks").mkdir()
    for scale in params["scales"].values():
        for bench in scale["eval"]["benchmarks"].values():
            bench["include_path"] = "tasks"
    monkeypatch.chdir(tmp_path)
    p = validate(params, root=tmp_path)
    with pytest.raises(ConfigError, match=r"^scales\.tiny\.eval\.benchmarks\.mgsm: no task file tasks/expanse_mgsm_"):
        ws.benchmark_files(p, "tiny", "mgsm")


def test_wildcard_alternation_matches_only_configured_names():
    import re

    pattern = re.compile(f"^(?:{ws.alternation(['fr', 'es', 'fr_ca'])})$")
    assert pattern.match("fr_ca") and pattern.match("es") and not pattern.match("de")
    assert not re.match(f"^(?:{ws.alternation([])})$", "")


def test_bound_signatures_are_what_snakemake_would_compute(monkeypatch):
    """bind_signatures attaches each input and params function's own parameters; Snakemake then
    passes the same arguments without calling inspect.signature."""
    import inspect

    from snakemake.common import get_function_params, get_input_function_aux_params
    from snakemake.io import unpack

    def inputs(wildcards):
        return []

    def unpacked(wildcards, attempt):
        return {}

    def param(wildcards, input, output, threads):
        return 1

    rule = SimpleNamespace(input=["a.txt", inputs, unpack(unpacked)], params=["plain", param, param])
    assert graph.bind_signatures([rule]) == 3
    f = ws.per_scale({"tiny": 1, "8b": 2})  # resource functions come bound
    monkeypatch.setattr(inspect, "signature", lambda f: pytest.fail(f"inspect.signature({f.__name__}) called"))
    offered = {"input": 1, "output": 2, "threads": 3, "attempt": 4, "resources": 5}
    assert list(get_function_params(inputs)) == ["wildcards"]
    assert get_input_function_aux_params(unpacked, offered) == {"attempt": 4}
    assert get_input_function_aux_params(param, offered) == {"input": 1, "output": 2, "threads": 3}
    assert get_input_function_aux_params(f, offered) == {}


def test_a_config_file_is_checked_again_when_its_bytes_change(tmp_path):
    from expanse.errors import ConfigError

    cfg = tmp_path / "c.yaml"
    cfg.write_text("seed: 1\nother: 2\n")
    ws.check_yaml(str(cfg))
    ws.check_yaml(str(cfg))
    cfg.write_text("seed: 1\nseed: 2\n")  # same size
    with pytest.raises(ConfigError, match=r"c.yaml:2: duplicate key 'seed'"):
        ws.check_yaml(str(cfg))
    with pytest.raises(ConfigError, match="duplicate key"):  # a failed check is never remembered as passed
        ws.check_yaml(str(cfg))


def test_resources_reach_their_functions_as_before_once_resource_evaluate_is_bound(monkeypatch):
    """Snakemake calls a resource function through the bound Resource.evaluate, whose parameters
    bind_signatures attaches: the function still gets exactly the arguments it names."""
    import inspect

    from snakemake.common import get_function_params
    from snakemake.resources import Resource

    res = Resource("mem_mb", graph.bind_signature(lambda wildcards, attempt, threads: 1000 * attempt + threads))
    plain = dict(get_function_params(res.evaluate))
    graph.bind_signatures([])
    monkeypatch.setattr(inspect, "signature", lambda f: pytest.fail(f"inspect.signature({f}) called"))
    assert dict(get_function_params(res.evaluate)) == plain
    assert res.evaluate({"scale": "tiny"}, attempt=2, threads=3, input=[], rulename="r").value == 2003


def test_the_lock_patch_refuses_another_snakemake_as_a_state_error(monkeypatch):
    import snakemake

    from expanse.errors import StateError

    monkeypatch.setattr(snakemake, "__version__", "9.99.0")
    with pytest.raises(StateError, match=r"^expanse/graph\.py patches Snakemake .* 9\.99\.0 is installed"):
        graph.install_lock_patch()
