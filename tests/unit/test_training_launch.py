"""The training launch command for each resource shape, checked against accelerate's own parser."""

import json
import shlex

import pytest
import yaml

from expanse.errors import ConfigError
from expanse.training.launch import ACCELERATE_CONFIGS, STRATEGIES, launch_command

PY = "/env/bin/python"


def accelerate_args(argv):
    """Parse the accelerate part of a launch with accelerate's parser (what `accelerate launch` runs)."""
    from accelerate.commands.launch import launch_command_parser

    start = argv.index("accelerate.commands.launch") + 1
    return launch_command_parser().parse_args(argv[start:])


def test_cpu_and_one_gpu_run_one_process():
    for gpus in (0, 1):
        assert launch_command("w/spec.json", gpus=gpus, python=PY) == [PY, "-m", "expanse.training", "w/spec.json"]


def test_several_gpus_on_one_node_use_accelerate_with_fsdp():
    argv = launch_command("w/spec.json", gpus=8, python=PY, port=29511)
    assert argv[:3] == [PY, "-m", "accelerate.commands.launch"]
    args = accelerate_args(argv)
    assert args.num_processes == 8 and args.num_machines == 1 and args.main_process_port == 29511
    assert args.mixed_precision == "bf16" and args.module
    assert args.config_file == str(ACCELERATE_CONFIGS / "fsdp.yaml")
    assert args.training_script == "expanse.training" and args.training_script_args == ["w/spec.json"]


def test_deepspeed_strategy_and_fp32_precision():
    args = accelerate_args(launch_command("s.json", gpus=4, strategy="deepspeed_zero3", precision="fp32", python=PY))
    assert args.config_file.endswith("deepspeed_zero3.yaml") and args.mixed_precision == "no"
    assert args.num_processes == 4


def test_several_nodes_run_one_launcher_per_node_through_srun():
    argv = launch_command("w/spec.json", gpus=16, nodes=2, python=PY, head_node="gpu-a01", port=29600)
    assert argv[:6] == [
        "srun",
        "--nodes=2",
        "--ntasks-per-node=1",
        "--whole",
        "--gpus-per-node=8",
        "--kill-on-bad-exit=1",
    ]
    assert argv[6:8] == ["bash", "-c"]
    inner = argv[8]
    assert '--machine_rank "$SLURM_NODEID"' in inner  # expanded on each node, not by us
    words = shlex.split(inner.replace('"$SLURM_NODEID"', "1"))
    args = accelerate_args(words)
    assert args.num_processes == 16 and args.num_machines == 2 and args.machine_rank == 1
    assert args.main_process_ip == "gpu-a01" and args.main_process_port == 29600
    assert args.training_script == "expanse.training" and args.training_script_args == ["w/spec.json"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gpus": 12, "nodes": 5}, "spread evenly"),
        ({"gpus": 0, "nodes": 2}, "spread evenly"),
        ({"gpus": 16, "nodes": 2}, "head node"),
        ({"gpus": 8, "strategy": "zero4"}, "unknown launch strategy"),
    ],
)
def test_bad_shapes_are_rejected(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        launch_command("s.json", python=PY, **kwargs)


def test_accelerate_configs_are_complete():
    from accelerate.commands.config.config_args import load_config_from_file

    for strategy, kind in zip(STRATEGIES, ("FSDP", "DEEPSPEED")):
        cfg = load_config_from_file(str(ACCELERATE_CONFIGS / f"{strategy}.yaml"))  # accelerate's own loader
        assert cfg.distributed_type.value == kind and not cfg.use_cpu
    fsdp = yaml.safe_load((ACCELERATE_CONFIGS / "fsdp.yaml").read_text())["fsdp_config"]
    # a full state dict is what save_model gathers into one plain checkpoint
    assert fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    ds = yaml.safe_load((ACCELERATE_CONFIGS / "deepspeed_zero3.yaml").read_text())["deepspeed_config"]
    assert ds["zero_stage"] == 3 and ds["zero3_save_16bit_model"] is True


def test_a_training_process_reads_its_spec_validated(tmp_path):
    from expanse.errors import DataError
    from expanse.training.config import DPOCfg, SFTCfg
    from expanse.training.launch import read_spec

    job = {
        "stage": "sft",
        "name": "romance/sft",
        "model": {"location": "m", "load": {"use_safetensors": True}},
        "data": ["d.parquet"],
        "prompts": ["p.parquet"],
        "config": {"lr": 0.001, "precision": "fp32"},
        "seed": 3,
        "threads": 2,
        "out_dir": "o",
        "metrics_path": "m.json",
        "work_dir": "w",
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(job))
    spec = read_spec(str(path))
    assert isinstance(spec.config, SFTCfg) and spec.config.lr == 0.001 and spec.model.load == {"use_safetensors": True}
    dpo = job | {"stage": "dpo", "ref_model": {"location": "r"}, "config": {"beta": 0.2}}
    path.write_text(json.dumps(dpo))
    assert isinstance(read_spec(str(path)).config, DPOCfg) and read_spec(str(path)).config.beta == 0.2
    for bad, where in (
        (job | {"config": {"beta": 0.2}}, "config.beta"),  # SFT has no beta
        (job | {"threads": 0}, "threads"),
        (dpo | {"ref_model": None}, "ref_model"),
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(DataError, match=f"^{path}: .*{where}") as e:
            read_spec(str(path))
        assert "\n" not in str(e.value)
