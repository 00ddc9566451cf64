# Shared by up.sh and down.sh (sourced): finding and stopping the cluster's daemons by pid file.
# Needs $SUDO set (empty when root).

# since T0: seconds elapsed since the `date +%s.%N` value T0, one decimal.
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
