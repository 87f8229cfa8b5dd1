#!/usr/bin/env bash
# dockerd.sh - run a private Docker Engine (Debian docker.io) as a background process.
#
# Usage: scripts/infra/dockerd.sh start|stop|env
#   start  start dockerd (no-op if already up) and wait until /_ping answers OK
#   stop   kill the recorded dockerd PID, unmount and delete the state; quiet if not running
#   env    print DOCKER_HOST=unix://...   (export with: set -a; source <(dockerd.sh env); set +a)
# State: ${OCCY_INFRA_DIR:-/tmp/occystrap-infra}/dockerd (data-root, exec-root, socket, log).
# No TCP listener, no docker0 bridge, no iptables rules; containers can run with
# --network none. overlay2 storage, falling back to vfs if overlay2 does not start.
# dockerd runs its own containerd and stops it on exit. Side effects dockerd makes itself:
# /etc/docker/key.json, /run/docker/plugins, /run/containerd.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
S="$INFRA_DIR/dockerd"
SOCK="$S/docker.sock"
PIDFILE="$S/dockerd.pid"   # written by this script ($!), not by dockerd's --pidfile

stop() {
  stop_pidfile "$PIDFILE" 20
  remove_state "$S"
}

launch() {  # launch DRIVER: start dockerd in the background, wait for /_ping
  mkdir -p "$S/data" "$S/exec"
  echo '{}' > "$S/daemon.json"   # so that /etc/docker/daemon.json is ignored
  nohup dockerd --config-file "$S/daemon.json" --data-root "$S/data" --exec-root "$S/exec" \
    --pidfile "$S/dockerd.own.pid" -H "unix://$SOCK" --storage-driver "$1" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false \
    > "$S/dockerd.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  wait_ready 30 "$PIDFILE" ping_sock "$SOCK"
}

start() {
  if pidfile_alive "$PIDFILE" && ping_sock "$SOCK"; then
    echo "dockerd: already running (pid $(cat "$PIDFILE"))" >&2; return 0
  fi
  need dockerd docker
  need curl tools
  stop   # clear stale state
  local t0 driver=overlay2
  t0=$(now_ms)
  if ! launch overlay2; then
    echo "dockerd: overlay2 did not start, retrying with vfs; log tail:" >&2
    tail -5 "$S/dockerd.log" >&2 || true
    stop; driver=vfs
    if ! launch vfs; then
      echo "dockerd: failed to start; log tail:" >&2
      tail -25 "$S/dockerd.log" >&2 || true
      stop; exit 1
    fi
  fi
  echo "dockerd: ready in $(secs_since "$t0") s (pid $(cat "$PIDFILE"), $driver, unix://$SOCK)" >&2
}

case "${1:-}" in
  start) start ;;
  stop)  stop ;;
  env)   echo "DOCKER_HOST=unix://$SOCK" ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
