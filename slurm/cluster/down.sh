#!/usr/bin/env bash
# Stop the local SLURM cluster started by up.sh: cancel all jobs, then stop slurmd, slurmctld,
# slurmdbd, mariadbd and munged (by the pids in their pid files). Idempotent; succeeds when
# nothing runs. Configs, accounting DB and slurmctld state are kept, so up.sh restarts quickly.
set -uo pipefail
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
T0=$(date +%s.%N)
source "$(dirname "$0")/daemons.sh"   # since, alive, running, stop

# Cancel all jobs while slurmctld and slurmd still run, and give them up to 10 s to end.
if running slurmctld /run/slurmctld.pid && command -v squeue >/dev/null; then
  jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// }" ]; then
    # shellcheck disable=SC2086
    $SUDO timeout 10 scancel $jobs 2>/dev/null || true
    echo "slurm: cancelled jobs $jobs"
    for _ in $(seq 50); do
      [ -z "$(timeout 5 squeue -h -t PD,R,CG,S -o %A 2>/dev/null)" ] && break; sleep 0.2
    done
  fi
fi

# Stop in dependency order (slurmdbd needs mariadb and munge); independent daemons in parallel.
stop slurmd /run/slurmd.pid & stop slurmctld /run/slurmctld.pid & wait
stop slurmdbd /run/slurmdbd.pid
stop mariadbd /run/mysqld/mysqld.pid & stop munged /run/munge/munged.pid & wait
echo "slurm: down in $(since "$T0") s"
exit 0
