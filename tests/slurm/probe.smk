# Probe workflow for the SLURM tests: its rules carry the project's own resource classes (through
# rules/common.smk) and only report what SLURM gave them. Run from a copy of the repo:
#   snakemake -s tests/slurm/probe.smk --profile slurm probe/8b/sft.env
import json
import os
import sys

from expanse.training.launch import head_node_of_allocation, launch_command


configfile: "params.yaml"


include: "../../rules/common.smk"


# What the job sees: GPUs, CPUs, memory, the job id (for scontrol/sacct).
rule probe_sft:
    output:
        "probe/{scale}/sft.env",
    log:
        "probe/{scale}/sft.log",
    resources:
        **resources_for("sft"),
    shell:
        "env | grep -E '^(CUDA_VISIBLE_DEVICES|SLURM_JOB_ID|SLURM_GPUS_ON_NODE|SLURM_CPUS_ON_NODE)=' | sort > {output} 2> {log}"


# The multi-node launch inside a job, on the one node this cluster has: the 32b training class
# with nodes 1 instead of 2 (the executor's multi-node mode), and the launch command a 2-node job
# builds, run with --nodes=1. A recording stand-in for python notes what each launcher received.
rule probe_launch:
    output:
        directory("probe/launch/{scale}"),
    log:
        "probe/launch/{scale}.log",
    params:
        recorder="tests/slurm/record_launch.py",
    resources:
        **{**ws.slurm_resources(PARAMS.scales["32b"].resources["sft"]), "nodes": 1, "gpu": 8},
    run:
        import subprocess

        os.makedirs(output[0], exist_ok=True)
        head = head_node_of_allocation()
        argv = launch_command("spec.json", gpus=16, nodes=2, head_node=head, python=os.path.abspath(params.recorder))
        argv = [("--nodes=1" if a == "--nodes=2" else a) for a in argv]
        with open(log[0], "w") as f:
            print(json.dumps({"head": head, "argv": argv}), file=f)
        subprocess.run(argv, check=True, env={**os.environ, "PROBE_OUT": os.path.abspath(output[0])})
