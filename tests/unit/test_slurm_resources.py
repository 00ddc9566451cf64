"""SLURM annotations: params.yaml's resource classes, their mapping to Snakemake resources, and the
sbatch line the slurm executor plugin builds from them. Wrong annotations fail here, before any
cluster sees them (the cluster itself is exercised in tests/slurm/)."""

from types import SimpleNamespace

import pytest
from snakemake.resources import Resources as SmkResources
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string

from expanse import workflow_support as ws
from expanse.config import validate
from expanse.errors import ConfigError, ExpanseError


def reject(params) -> str:
    with pytest.raises(ConfigError) as e:
        validate(params)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_gpu_request_without_gpu_model_is_refused_where_the_scale_requires_one(params):
    del params["scales"]["8b"]["resources"]["sft"]["gpu_model"]
    assert "scales.8b.resources.sft.gpu_model: a request for 8 GPU(s) must name the GPU model" in reject(params)
    params["scales"]["8b"]["gpu_model_required"] = False
    assert validate(params).scales["8b"].resources["sft"].gpu_model is None


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"gpus": 8, "gpu_model": "h100"}, "scales.32b.resources.sft.gpus: unknown key"),
        ({"gpu": 8, "gpu_model": "h100", "tasks": 1}, "scales.32b.resources.sft.tasks: unknown key"),
        ({"gpu_model": "h100"}, "gpu_model: 'h100' is set but gpu is 0"),
        ({"gpu": 1, "gpu_model": "'h100'"}, "scales.32b.resources.sft.gpu_model: String should match pattern"),
        (
            {"gpu": 8, "gpu_model": "h100", "slurm_extra": "--partition=big"},
            "slurm_extra: '--partition=big' sets 'partition'",
        ),
        ({"gpu": 8, "gpu_model": "h100", "slurm_extra": "--exclusive -t 10"}, "sets 't'"),
        ({"gpu": 8, "gpu_model": "h100", "slurm_extra": "--gpus-per-task=1"}, "sets 'gpus-per-task'"),
        ({"gpu": 2, "gpu_model": "h100", "nodes": 2}, "a 2-node job needs at least 2 GPUs per node"),
        ({"gpu": 16, "gpu_model": "h100", "nodes": 2, "cpus_per_task": 60}, "60 CPUs per node cannot be shared evenly"),
        ({"gpu": 12, "gpu_model": "h100", "nodes": 5}, "12 GPUs cannot be spread evenly over 5 nodes"),
    ],
)
def test_bad_resource_entries_name_the_key(params, entry, message):
    params["scales"]["32b"]["resources"]["sft"] = entry
    assert message in reject(params)


# The slurm executor submits `sbatch ... <slurm_extra>` through a shell: only option tokens pass.
@pytest.mark.parametrize(
    "entry, message",
    [
        (
            {"slurm_extra": "--exclusive; touch pwned"},
            "scales.32b.resources.merge.slurm_extra: '--exclusive;' is not an sbatch long option",
        ),
        ({"slurm_extra": "--comment=$(touch pwned)"}, "'--comment=$(touch' is not an sbatch long option"),
        ({"slurm_extra": "--comment=`id`"}, "is not an sbatch long option"),
        ({"slurm_extra": "--exclusive && id"}, "'&&' is not an sbatch long option"),
        ({"slurm_extra": "--comment='a b'"}, "is not an sbatch long option"),
        ({"slurm_extra": "--exclusive\ntouch pwned"}, "is not an sbatch long option"),
        ({"slurm_extra": "--comment=a|id"}, "is not an sbatch long option"),
        ({"slurm_extra": "--comment=a>/tmp/x"}, "is not an sbatch long option"),
        ({"slurm_extra": "--comment cpu"}, "'cpu' is not an sbatch long option: write each as --name or --name=value"),
        ({"slurm_extra": "-w node1"}, "'-w' is not an sbatch long option"),
        # gpu_model now takes '-' (a100-80gb), never first
        ({"gpu": 1, "gpu_model": "-h100"}, "scales.32b.resources.merge.gpu_model: String should match pattern"),
        ({"slurm_partition": "-pgpu"}, "scales.32b.resources.merge.slurm_partition: String should match pattern"),
        ({"slurm_partition": "gpu,"}, "slurm_partition: String should match pattern"),
    ],
)
def test_shell_syntax_in_what_reaches_sbatch_is_refused(params, entry, message):
    params["scales"]["32b"]["resources"]["merge"] = {"cpus_per_task": 8, "mem_mb": 64000, "runtime": 240, **entry}
    assert message in reject(params)


def test_harmless_slurm_extra_is_kept(params):
    params["scales"]["32b"]["resources"]["merge"]["slurm_extra"] = "--exclusive --comment=cpu-heavy"
    assert validate(params).scales["32b"].resources["merge"].slurm_extra == "--exclusive --comment=cpu-heavy"
    extra = "--exclusive --mail-type=END,FAIL --mail-user=a.b@example.org --reservation=r_1 --nice=10"
    params["scales"]["32b"]["resources"]["merge"]["slurm_extra"] = extra
    params["scales"]["32b"]["resources"]["merge"]["slurm_partition"] = "gpu-long,gpu.short"
    params["scales"]["32b"]["resources"]["judge"]["gpu_model"] = "a100-80gb"
    p = validate(params)
    assert p.scales["32b"].resources["merge"].slurm_extra == extra
    assert p.scales["32b"].resources["judge"].gpu_model == "a100-80gb"


def test_multi_node_classes_use_the_executors_multi_node_mode(shipped_params):
    p = validate(shipped_params)
    sft = ws.slurm_resources(p.scales["32b"].resources["sft"])
    # 2 nodes x 8 GPUs: one SLURM task slot per GPU, the node's 64 CPUs shared by its 8 slots
    assert (sft["gpu"], sft["gpu_model"], sft["nodes"], sft["tasks_per_node"], sft["cpus_per_task"], sft["mpi"]) == (
        16,
        "h100",
        2,
        8,
        8,
        "srun",
    )
    one = ws.slurm_resources(p.scales["8b"].resources["sft"])
    assert (one["gpu"], one["nodes"], one["cpus_per_task"]) == (8, 1, 64) and "mpi" not in one


def test_profile_defaults_fill_what_a_class_leaves_unset(params):
    p = validate(params)
    defaults = SmkResources.parse(
        ["slurm_partition=batch", "slurm_extra='--exclusive'", "mem_mb=1000"], allow_expressions=True
    )
    assert ws.profile_default(defaults, "slurm_partition") == "batch"
    assert ws.profile_default(defaults, "slurm_extra") == "--exclusive"
    assert ws.profile_default(defaults, "gpu_model") is None and ws.profile_default(None, "slurm_partition") is None
    res = ws.rule_resources(p, "generate", defaults)
    assert res["slurm_partition"] == "batch" and res["slurm_extra"] == "--exclusive"  # every scale's
    assert rule_value(res, "gpu_model", "32b") == "h100" and res["mpi"] is None
    # a partition named in params.yaml wins over the profile's, at its scale only
    params["scales"]["32b"]["resources"]["generate"]["slurm_partition"] = "h100-long"  # a copy, not the session's
    res = ws.rule_resources(validate(params), "generate", defaults)
    assert [rule_value(res, "slurm_partition", s) for s in ("tiny", "8b", "32b")] == ["batch", "batch", "h100-long"]


def rule_value(res: dict, name: str, scale: str):
    """A rule resource's value for a job at `scale`, as Snakemake gets it: plain, or a function of the wildcards."""
    value = res[name]
    return value(SimpleNamespace(scale=scale)) if callable(value) else value


@pytest.mark.parametrize("defaults", [None, ["slurm_partition=batch", "slurm_extra='--exclusive'", "mem_mb=1000"]])
def test_every_job_gets_its_scales_class_whether_a_value_is_plain_or_a_function(shipped_params, defaults):
    """rules/common.smk's resources_for and threads_for: each job's resources are its scale's params
    class (slurm_resources), whichever form per_scale chose; profile defaults only fill unset values."""
    p = validate(shipped_params)
    parsed = SmkResources.parse(defaults, allow_expressions=True) if defaults else None
    fallback = {n: ws.profile_default(parsed, n) for n in ws.PROFILE_DEFAULTABLE}
    keys = {k for s in p.scales.values() for k in s.resources} | {"tiny", "no_such_class"}
    functions = 0
    for key in keys:
        res = ws.rule_resources(p, key, parsed)
        assert set(res) == set(ws.SLURM_RESOURCE_NAMES)
        functions += sum(map(callable, res.values()))
        for scale in p.scales:
            want = ws.slurm_resources(ws.resources(p, scale, key))
            for name in ws.SLURM_RESOURCE_NAMES:
                expected = fallback.get(name) if want.get(name) is None else want[name]
                assert rule_value(res, name, scale) == expected, (key, scale, name)
            assert rule_value({"t": ws.rule_threads(p, key)}, "t", scale) == ws.resources(p, scale, key).cpus_per_task
    assert functions  # the shipped classes differ between scales


def test_a_resource_every_scale_shares_is_plain_and_one_that_differs_a_function():
    assert ws.per_scale({"tiny": 1, "8b": 1, "32b": 1}) == 1
    assert ws.per_scale({"tiny": None, "8b": None}) is None
    f = ws.per_scale({"tiny": 0, "8b": 1, "32b": 0})
    assert [f(SimpleNamespace(scale=s)) for s in ("tiny", "8b", "32b")] == [0, 1, 0]
    assert ws.per_scale({"tiny": "h100", "8b": None})(SimpleNamespace(scale="8b")) is None


@pytest.mark.parametrize("name", sorted(ws.FORBIDDEN_RESOURCES))
def test_resource_names_the_executor_maps_wrong_are_refused(name):
    ws.check_rule_resources([("ok (rules/a.smk)", ["gpu", "gpu_model", "mem_mb", "mpi", "tasks_per_node"])])
    with pytest.raises(ExpanseError, match=rf"rule bad \(rules/b.smk\): resources: '{name}' is not mapped"):
        ws.check_rule_resources([("ok (rules/a.smk)", ["gpu"]), ("bad (rules/b.smk)", ["mem_mb", name])])


class _Res(dict):
    __getattr__ = dict.__getitem__


def sbatch_line(res: dict) -> str:
    """The sbatch call snakemake-executor-plugin-slurm builds for a job with these resources."""
    job = SimpleNamespace(resources=_Res({k: v for k, v in res.items() if v is not None}), threads=2)
    params = {
        "run_uuid": "u",
        "slurm_logfile": "l.log",
        "comment_str": "rule_x",
        "account": "-A acct",
        "partition": "-p gpu",
        "workdir": "/w",
    }
    return get_submit_command(job, params) + set_gres_string(job)  # the order the executor uses


def test_every_class_of_every_scale_becomes_the_intended_sbatch_request(shipped_params):
    p = validate(shipped_params)
    seen_gpu = seen_multi = 0
    for scale_name, scale in p.scales.items():
        for cls, res in scale.resources.items():
            line = sbatch_line(ws.slurm_resources(res)).split()
            where = f"{scale_name}.{cls}: {' '.join(line)}"
            assert "--mem" in line and line[line.index("--mem") + 1] == str(res.mem_mb), where
            assert line[line.index("-t") + 1] == str(res.runtime), where
            assert not any(a.startswith("--ntasks-per-gpu") for a in line), where  # pitfall: tasks in a GPU job
            if res.gpu:
                seen_gpu += 1
                assert f"--gpus={res.gpu_model}:{res.gpu}" in line, where
            else:
                assert not any(a.startswith("--gpus") for a in line) and "--ntasks=1" in line, where
            if res.nodes > 1:
                seen_multi += 1
                per_node = res.gpu // res.nodes
                assert {
                    f"--nodes={res.nodes}",
                    f"--ntasks-per-node={per_node}",
                    f"--cpus-per-task={res.cpus_per_task // per_node}",
                } <= set(line), where
            else:
                assert f"--cpus-per-task={res.cpus_per_task}" in line, where
        if scale_name == "tiny":
            assert not any(r.gpu for r in scale.resources.values())
    assert seen_gpu >= 10 and seen_multi == 2
