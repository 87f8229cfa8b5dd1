# common.sh - helpers sourced by the infra scripts in this directory (not run directly).
#
# State lives under ${OCCY_INFRA_DIR:-/tmp/occystrap-infra}/<service>.
# Machine quirk: on some CI VMs PID 1 does not reap orphans, so a dead background process
# lingers as <defunct> and `kill -0` still succeeds; liveness therefore checks `ps` state.
# shellcheck shell=bash

# shellcheck disable=SC2034  # used by the scripts that source this file
INFRA_DIR="${OCCY_INFRA_DIR:-/tmp/occystrap-infra}"

now_ms() { date +%s%3N; }

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
  local st
  st="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [ -n "$st" ] && [ "${st:0:1}" != Z ]
}

# pidfile_alive FILE: FILE exists and holds the PID of a live process.
pidfile_alive() { [ -f "$1" ] && pid_alive "$(cat "$1")"; }

# stop_pidfile FILE [SECONDS]: TERM the recorded PID, wait, then KILL it. Only that PID.
stop_pidfile() {
  local f="$1" wait_s="${2:-15}" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if pid_alive "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((wait_s * 10))); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; sleep 0.2; fi
  fi
  rm -f "$f"
}

# remove_state DIR: unmount anything left below DIR (deepest first), then delete DIR.
remove_state() {
  local d="$1" m
  [ -d "$d" ] || return 0
  { findmnt -rn -o TARGET | grep -F "$d/" || true; } | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  chmod -R u+w "$d" 2>/dev/null || true   # vfs stores can hold read-only directories
  rm -rf "$d"
}

# ping_sock SOCK: the Docker-API daemon on SOCK answers /_ping with OK.
ping_sock() {
  [ -S "$1" ] && [ "$(curl -s --max-time 2 --unix-socket "$1" http://localhost/_ping || true)" = OK ]
}

# wait_ready SECONDS PIDFILE CMD...: poll CMD every 0.1 s while the recorded PID lives.
wait_ready() {
  local secs="$1" pidfile="$2"; shift 2
  for _ in $(seq 1 $((secs * 10))); do
    "$@" && return 0
    pidfile_alive "$pidfile" || return 1
    sleep 0.1
  done
  "$@"
}

need() { command -v "$1" >/dev/null || { echo "$1 not found; run scripts/infra/install.sh $2" >&2; exit 1; }; }

# secs_since T0_MS: elapsed seconds since T0_MS, e.g. "0.31".
secs_since() { awk -v ms=$(( $(now_ms) - $1 )) 'BEGIN { printf "%.2f", ms / 1000 }'; }
