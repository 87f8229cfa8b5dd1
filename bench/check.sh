#!/usr/bin/env bash
# A full `occystrap check` of a registry image (every layer downloaded, decompressed, hashed and
# walked, nothing kept) against `skopeo copy` of the same image to a docker-archive, in one run, on
# a generated image of about 600 MB (this machine's own files) in 6 layers, from the Debian
# docker-registry on loopback. Also `check --fast`. Prints medians and occystrap/skopeo.
# Usage: bench/check.sh [RUNS]  (needs ./build.sh first; run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
occy=artifacts/occystrap/occystrap
work=${BENCH_DIR:-$(mktemp -d)}
export OCCY_INFRA_DIR="$work/infra"
port=5131
cleanup() {
  bash scripts/infra/registry.sh stop --port $port >/dev/null 2>&1 || true
  [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
[ -f "$work/big.tar" ] || bash bench/make-big-image.sh "$work/big.tar" 600 6
mb=$(( $(stat -c %s "$work/big.tar") / 1000000 ))
bash scripts/infra/registry.sh start --port $port >/dev/null 2>&1
skopeo copy --quiet --dest-tls-verify=false "docker-archive:$work/big.tar" "docker://127.0.0.1:$port/bench/big:1"
src="127.0.0.1:$port/bench/big:1"

declare -A median
measure() { # measure NAME COMMAND...
  local name=$1; shift
  local times=()
  for _ in $(seq "$runs"); do
    rm -f "$work/out.tar" /var/lib/containers/cache/blob-info-cache-v1.boltdb
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc -l)")
  done
  median[$name]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-26s median %6.2f s  %7.1f MB/s\n' "$name" "${median[$name]}" "$(echo "$mb / ${median[$name]}" | bc -l)"
}
echo "image: $mb MB uncompressed, 6 layers (gzip in the registry); $runs runs each"
measure occystrap-check $occy --insecure check "registry://$src"
measure skopeo-copy-to-archive skopeo copy --quiet --src-tls-verify=false "docker://$src" "docker-archive:$work/out.tar:bench/big:1"
measure occystrap-check-fast $occy --insecure check --fast "registry://$src"
printf 'full check: occystrap/skopeo = %.2f\n' "$(echo "${median[occystrap-check]} / ${median[skopeo-copy-to-archive]}" | bc -l)"
