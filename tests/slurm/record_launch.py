#!/usr/bin/env python3
"""Stand-in for python in a launch command (tests/slurm/probe.smk): records its argv and the SLURM
environment it was started with, one JSON file per task, and exits."""

import json
import os
import socket
import sys

keys = (
    "SLURM_NODEID",
    "SLURM_PROCID",
    "SLURM_LOCALID",
    "SLURM_STEP_ID",
    "SLURM_NTASKS",
    "SLURM_CPUS_ON_NODE",
    "CUDA_VISIBLE_DEVICES",
    "SLURM_GPUS_ON_NODE",
    "SLURM_JOB_ID",
)
record = {"argv": sys.argv[1:], "host": socket.gethostname(), "env": {k: os.environ.get(k) for k in keys}}
out = os.path.join(os.environ["PROBE_OUT"], f"task{os.environ.get('SLURM_PROCID', 'x')}.json")
with open(out + ".tmp", "w") as f:
    json.dump(record, f)
os.replace(out + ".tmp", out)
