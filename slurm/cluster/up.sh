#!/usr/bin/env bash
# Start a real single-node SLURM cluster (munge, mariadb, slurmdbd, slurmctld, slurmd) on this
# machine without systemd, for CI and local tests. Idempotent: when all is up it only checks.
# The node (hostname -s) advertises 64 CPUs, ~1 TB and 8 fake H100s; partitions gpu (default), cpu.
# Env: EXPANSE_SLURM_ACCOUNT (default expanse). Stop with down.sh.
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
HERE=$(cd "$(dirname "$0")" && pwd)
NODE=$(hostname -s)
ACCOUNT=${EXPANSE_SLURM_ACCOUNT:-expanse}
DBPASS=slurmdbpass   # MariaDB only listens on 127.0.0.1 / its socket
LOG=/var/log/slurm

now() { date +%s.%N; }
die() { echo "slurm: $*" >&2; exit 1; }
source "$HERE/daemons.sh"   # since, alive, running, stop
# wait_for NAME LOGFILE CMD...: poll CMD for up to 30 s.
wait_for() {
  local name=$1 log=$2; shift 2
  for _ in $(seq 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "$name did not come up within 30 s; see $log"
}

T0=$(now)
# --- install (only when a daemon binary is missing) ---
if ! [ -x /usr/sbin/slurmctld ] || ! [ -x /usr/sbin/slurmd ] || ! [ -x /usr/sbin/slurmdbd ] \
   || ! [ -x /usr/sbin/mariadbd ] || ! [ -x /usr/sbin/munged ]; then
  # Keep postinst scripts from starting services themselves (the Docker convention).
  POLICY=""
  if ! [ -e /usr/sbin/policy-rc.d ]; then
    POLICY=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod 755 "$POLICY"
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurm-wlm slurmctld slurmd slurm-client munge slurmdbd mariadb-server >/dev/null
  [ -z "$POLICY" ] || $SUDO rm -f "$POLICY"
  echo "slurm: install $(since "$T0") s"
else
  echo "slurm: install 0.0 s (packages present)"
fi
T1=$(now)

# --- config: render templates; remember what changed ---
$SUDO mkdir -p /etc/slurm "$LOG" /var/spool/slurmctld /var/spool/slurmd /var/spool/fakegpu
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
CHANGED=""
for f in slurm.conf gres.conf slurmdbd.conf; do
  sed -e "s/@NODE@/$NODE/g" -e "s/@DBPASS@/$DBPASS/g" "$HERE/$f.in" >"$TMP/$f"
  if ! $SUDO cmp -s "$TMP/$f" "/etc/slurm/$f"; then
    mode=644; [ "$f" = slurmdbd.conf ] && mode=600
    $SUDO install -o root -g root -m "$mode" "$TMP/$f" "/etc/slurm/$f"
    CHANGED="$CHANGED $f"
  fi
done
# Fake GPUs: char devices with /dev/null's numbers.
for i in 0 1 2 3 4 5 6 7; do
  [ -c "/var/spool/fakegpu/nvidia$i" ] || $SUDO mknod -m 666 "/var/spool/fakegpu/nvidia$i" c 1 3
done

# --- munge ---
if ! running munged /run/munge/munged.pid; then
  [ -s /etc/munge/munge.key ] || $SUDO runuser -u munge -- mungekey -c
  $SUDO mkdir -p /run/munge && $SUDO chown munge:munge /run/munge
  $SUDO runuser -u munge -- /usr/sbin/munged
fi
wait_for munged /var/log/munge/munged.log sh -c 'munge -n | unmunge'

# --- mariadb (accounting storage) ---
if ! running mariadbd /run/mysqld/mysqld.pid; then
  $SUDO mkdir -p /run/mysqld && $SUDO chown mysql:mysql /run/mysqld
  [ -d /var/lib/mysql/mysql ] || $SUDO mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  $SUDO sh -c "setsid -f /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql \
    --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid \
    --bind-address=127.0.0.1 --skip-name-resolve </dev/null >>$LOG/mariadb.log 2>&1"
fi
wait_for mariadbd "$LOG/mariadb.log" $SUDO mariadb-admin --socket=/run/mysqld/mysqld.sock ping
$SUDO mariadb --socket=/run/mysqld/mysqld.sock -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' \
  IDENTIFIED BY '$DBPASS'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"

# --- slurmdbd ---
[[ "$CHANGED" != *slurmdbd.conf* ]] || stop slurmdbd /run/slurmdbd.pid
running slurmdbd /run/slurmdbd.pid || $SUDO /usr/sbin/slurmdbd
# Readiness probe that also lists the associations (cluster|account|user) for the checks below.
assocs() { timeout 5 sacctmgr -n -P list assoc format=cluster,account,user >"$TMP/assoc"; }
wait_for slurmdbd "$LOG/slurmdbd.log" assocs

# --- accounting: cluster, account, users (checked first so reruns change nothing) ---
grep -q '^expanse|' "$TMP/assoc" || $SUDO sacctmgr -i -Q add cluster expanse >/dev/null
grep -qx "expanse|$ACCOUNT|" "$TMP/assoc" || $SUDO sacctmgr -i -Q add account "$ACCOUNT" \
  Cluster=expanse Description=expanse Organization=expanse >/dev/null
USERS=root
[ -z "${SUDO_USER:-}" ] || [ "$SUDO_USER" = root ] || USERS="$USERS $SUDO_USER"
[ "$(id -u)" = 0 ] || USERS="$USERS $(id -un)"
DEFAULTS=$(sacctmgr -n -P list user format=user,defaultaccount)
for u in $(echo "$USERS" | tr ' ' '\n' | sort -u); do
  grep -qx "expanse|$ACCOUNT|$u" "$TMP/assoc" || $SUDO sacctmgr -i -Q add user "$u" \
    Account="$ACCOUNT" Cluster=expanse DefaultAccount="$ACCOUNT" >/dev/null
  grep -qx "$u|$ACCOUNT" <<<"$DEFAULTS" \
    || $SUDO sacctmgr -i -Q modify user "$u" set DefaultAccount="$ACCOUNT" >/dev/null
done

# --- slurmctld + slurmd (restarted when slurm.conf/gres.conf changed) ---
if [[ "$CHANGED" == *slurm.conf* || "$CHANGED" == *gres.conf* ]]; then
  stop slurmd /run/slurmd.pid & stop slurmctld /run/slurmctld.pid & wait
fi
running slurmctld /run/slurmctld.pid || $SUDO /usr/sbin/slurmctld
wait_for slurmctld "$LOG/slurmctld.log" sh -c 'scontrol ping | grep -q UP'
running slurmd /run/slurmd.pid || $SUDO /usr/sbin/slurmd
# node_ok: registered and usable; resume it if drained/down (e.g. state saved by an earlier run).
node_ok() {
  local s; s=$(sinfo -h -N -n "$NODE" -o %T | head -1)
  case "$s" in
    idle|mixed|allocated|completing) return 0 ;;
    *drain*|down|fail*|inval*) $SUDO scontrol update nodename="$NODE" state=resume || true ;;
  esac
  return 1
}
wait_for slurmd "$LOG/slurmd.log" node_ok

# --- readiness: real job steps on both partitions (skipped while other jobs are queued) ---
if [ -z "$(squeue -h -o %i)" ]; then
  for p in "gpu --gpus=h100:1" cpu; do
    # shellcheck disable=SC2086
    timeout 30 srun -p $p true || die "srun -p $p failed; see $LOG/slurmctld.log and $LOG/slurmd.log"
  done
else
  echo "slurm: jobs queued, srun check skipped"
fi
echo "slurm: start $(since "$T1") s${CHANGED:+ (config changed:$CHANGED)}"
echo "slurm: up (node $NODE, partitions gpu,cpu, account $ACCOUNT) in $(since "$T0") s"
