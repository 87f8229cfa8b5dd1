#!/usr/bin/env bash
# podman.sh - run `podman system service` (Debian podman, as root) on a private unix socket
# as a second Docker-API daemon (compat API 1.41).
#
# Usage: scripts/infra/podman.sh start|stop|env
#   start  start the service (no-op if already up) and wait until /_ping answers OK
#   stop   kill the recorded PID and delete the state (image store included); quiet if not running
#   env    print PODMAN_HOST=unix://...
# State: ${OCCY_INFRA_DIR:-/tmp/occystrap-infra}/podman: store (vfs), run dir, temp dirs,
# and a registries.conf that lets podman use plain HTTP to 127.0.0.1 / localhost ports
# 5000-5019. cgroupfs, events to a file, runtime runc. Podman itself writes
# /etc/cni/net.d/87-podman-bridge.conflist on its first start.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
S="$INFRA_DIR/podman"
SOCK="$S/podman.sock"
PIDFILE="$S/podman.pid"

stop() {
  stop_pidfile "$PIDFILE" 10
  remove_state "$S"
}

start() {
  if pidfile_alive "$PIDFILE" && ping_sock "$SOCK"; then
    echo "podman: already running (pid $(cat "$PIDFILE"))" >&2; return 0
  fi
  need podman podman
  need curl tools
  stop   # clear stale state
  local t0 port
  t0=$(now_ms)
  mkdir -p "$S/root" "$S/run" "$S/tmp" "$S/libpod-tmp"
  {
    echo 'unqualified-search-registries = []'
    for port in $(seq 5000 5019); do
      printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "127.0.0.1:$port" "localhost:$port"
    done
  } > "$S/registries.conf"
  # TMPDIR keeps podman's load/push temp files (default /var/tmp) inside the state dir.
  TMPDIR="$S/tmp" CONTAINERS_REGISTRIES_CONF="$S/registries.conf" \
    nohup podman --root "$S/root" --runroot "$S/run" --tmpdir "$S/libpod-tmp" \
      --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime runc \
      system service --time=0 "unix://$SOCK" > "$S/service.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  if ! wait_ready 30 "$PIDFILE" ping_sock "$SOCK"; then
    echo "podman: service failed to start; log tail:" >&2
    tail -25 "$S/service.log" >&2 || true
    stop; exit 1
  fi
  echo "podman: ready in $(secs_since "$t0") s (pid $(cat "$PIDFILE"), unix://$SOCK)" >&2
}

case "${1:-}" in
  start) start ;;
  stop)  stop ;;
  env)   echo "PODMAN_HOST=unix://$SOCK" ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
