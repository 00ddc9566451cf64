#!/usr/bin/env bash
# Stop the local SLURM cluster started by up.sh: cancel all jobs, then stop slurmd, slurmctld,
# slurmdbd, mariadbd and munged (by the pids in their pid files). Idempotent; succeeds when
# nothing runs. Configs, accounting DB and slurmctld state are kept, so up.sh restarts quickly.
set -uo pipefail
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
T0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# alive PID: the process exists and is no zombie (here PID 1 reaps exited daemons ~2 s late).
alive() { local st; st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]; }
# running NAME PIDFILE: the pid file names a live process called NAME.
running() {
  local pid; pid=$($SUDO cat "$2" 2>/dev/null) || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && alive "$pid"
}
# stop NAME PIDFILE: SIGTERM, wait up to 30 s, then SIGKILL.
stop() {
  running "$1" "$2" || return 0
  local pid t; pid=$($SUDO cat "$2"); t=$(date +%s.%N)
  $SUDO kill "$pid" 2>/dev/null || true
  for _ in $(seq 150); do alive "$pid" || { echo "slurm: stopped $1 in $(since "$t") s"; return 0; }; sleep 0.2; done
  $SUDO kill -9 "$pid" 2>/dev/null || true
  echo "slurm: killed $1 (no exit after 30 s)"
}

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
