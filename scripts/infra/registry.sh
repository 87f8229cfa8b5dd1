#!/usr/bin/env bash
# registry.sh - run a throw-away registry (Debian docker-registry = CNCF distribution 2.8)
# on 127.0.0.1 as a background process.
#
# Usage: scripts/infra/registry.sh start|stop|env [--name N] [--port P] [--auth none|htpasswd] [--tls]
#   --name N     instance name (default: the port); state in $OCCY_INFRA_DIR/registry-N
#   --port P     listen port on 127.0.0.1 (default 5000)
#   --auth M     none (default) or htpasswd: basic auth, user testuser / password testpass
#   --tls        HTTPS with a fresh self-signed cert for 127.0.0.1 (SAN IP:127.0.0.1, DNS:localhost)
#   start  start (no-op if that instance already answers) and wait until /v2/ answers 200 or 401
#   stop   kill the recorded PID and delete the state (blobs included); quiet if not running
#   env    print REGISTRY_ADDR=127.0.0.1:P, REGISTRY_URL=http(s)://..., with --tls
#          REGISTRY_CA=<cert PEM> (its directory holds only ca.crt, as skopeo --*-cert-dir
#          wants), with htpasswd REGISTRY_USER and REGISTRY_PASSWORD. Give the same
#          --name/--port to stop and env as to start.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cmd="${1:-}"; shift || true
name=""; port=5000; auth=none; tls=0
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --auth) auth="$2"; shift 2 ;;
    --tls)  tls=1; shift ;;
    *) echo "registry.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$auth" in none|htpasswd) ;; *) echo "registry.sh: --auth must be none or htpasswd" >&2; exit 2 ;; esac
S="$INFRA_DIR/registry-${name:-$port}"
PIDFILE="$S/registry.pid"
USER_NAME=testuser; USER_PASS=testpass

probe() {  # /v2/ answers 200 (open) or 401 (auth required)
  local url code
  url="$(sed -n 's/^REGISTRY_URL=//p' "$S/env")/v2/"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$S/certs/ca.crt" "$url" 2>/dev/null || true)
  [ "$code" = 200 ] || [ "$code" = 401 ]
}

stop() {
  stop_pidfile "$PIDFILE" 10
  remove_state "$S"
}

write_config() {
  cat <<YAML
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $S/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
  secret: occystrap-test-only-secret
YAML
  if [ "$tls" = 1 ]; then
    printf '  tls:\n    certificate: %s\n    key: %s\n' "$S/certs/ca.crt" "$S/server.key"
  fi
  if [ "$auth" = htpasswd ]; then
    printf 'auth:\n  htpasswd:\n    realm: occystrap-test\n    path: %s\n' "$S/htpasswd"
  fi
}

start() {
  if pidfile_alive "$PIDFILE" && [ -f "$S/env" ] && probe; then
    echo "registry-${name:-$port}: already running (pid $(cat "$PIDFILE"))" >&2; return 0
  fi
  need docker-registry registry
  need curl tools
  stop   # clear stale state
  # curl exit 7 = connection refused, i.e. the port is free
  local rc=0 t0 scheme=http
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" || rc=$?
  [ "$rc" = 7 ] || { echo "registry.sh: 127.0.0.1:$port is already in use" >&2; exit 1; }
  t0=$(now_ms)
  mkdir -p "$S/data" "$S/certs"
  if [ "$tls" = 1 ]; then
    need openssl registry
    scheme=https
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -keyout "$S/server.key" -out "$S/certs/ca.crt" -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
  fi
  if [ "$auth" = htpasswd ]; then
    need htpasswd registry
    htpasswd -Bbn "$USER_NAME" "$USER_PASS" > "$S/htpasswd"
  fi
  write_config > "$S/config.yml"
  {
    echo "REGISTRY_ADDR=127.0.0.1:$port"
    echo "REGISTRY_URL=$scheme://127.0.0.1:$port"
    [ "$tls" = 0 ] || echo "REGISTRY_CA=$S/certs/ca.crt"
    [ "$auth" = none ] || printf 'REGISTRY_USER=%s\nREGISTRY_PASSWORD=%s\n' "$USER_NAME" "$USER_PASS"
  } > "$S/env"
  nohup docker-registry serve "$S/config.yml" > "$S/registry.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  if ! wait_ready 15 "$PIDFILE" probe; then
    echo "registry-${name:-$port}: failed to start; log tail:" >&2
    tail -25 "$S/registry.log" >&2 || true
    stop; exit 1
  fi
  echo "registry-${name:-$port}: ready in $(secs_since "$t0") s (pid $(cat "$PIDFILE"), $scheme://127.0.0.1:$port, auth $auth)" >&2
}

case "$cmd" in
  start) start ;;
  stop)  stop ;;
  env)   [ -f "$S/env" ] || { echo "registry-${name:-$port}: not running" >&2; exit 1; }; cat "$S/env" ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
