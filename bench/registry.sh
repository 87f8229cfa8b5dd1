#!/usr/bin/env bash
# Runs the same registry work through occystrap and through skopeo copy, in one run, on a generated
# image of about 600 MB uncompressed in 6 layers, against the Debian docker-registry on loopback:
#   1. registry -> docker-archive   2. docker-archive -> registry   3. registry -> another registry
#   4. registry -> OCI image layout (occystrap's oci-layout://, skopeo's oci:), into a fresh folder
# Each push goes to a freshly started, empty registry, and skopeo's blob-info cache is removed first,
# so neither tool can skip or mount blobs it saw in an earlier run. Prints medians and occystrap/skopeo.
# Usage: bench/registry.sh [RUNS]  (needs ./build.sh first; run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
occy=artifacts/occystrap/occystrap
work=${BENCH_DIR:-$(mktemp -d)}
export OCCY_INFRA_DIR="$work/infra"
src=5110 dst=5111
cleanup() {
  bash scripts/infra/registry.sh stop --port $src >/dev/null 2>&1 || true
  bash scripts/infra/registry.sh stop --port $dst >/dev/null 2>&1 || true
  [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
skopeo_cache=/var/lib/containers/cache/blob-info-cache-v1.boltdb

[ -f "$work/big.tar" ] || bash bench/make-big-image.sh "$work/big.tar" 700 6
mb=$(( $(stat -c %s "$work/big.tar") / 1000000 ))
bash scripts/infra/registry.sh start --port $src >/dev/null 2>&1
skopeo copy --quiet --dest-tls-verify=false "docker-archive:$work/big.tar" "docker://127.0.0.1:$src/bench/big:1"

fresh_dst() {
  bash scripts/infra/registry.sh stop --port $dst >/dev/null 2>&1 || true
  bash scripts/infra/registry.sh start --port $dst >/dev/null 2>&1
  rm -f "$skopeo_cache"
}

declare -A median
measure() { # measure NAME SETUP COMMAND...: median seconds of $runs runs; SETUP runs untimed before each
  local name=$1 setup=$2; shift 2
  local times=()
  for _ in $(seq "$runs"); do
    rm -f "$work/out.tar"
    $setup
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc -l)")
  done
  median[$name]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-34s median %6.2f s  %7.1f MB/s\n' "$name" "${median[$name]}" "$(echo "$mb / ${median[$name]}" | bc -l)"
}
none() { :; }
fresh_layout() { rm -rf "$work/layout"; rm -f "$skopeo_cache"; }
ratio() { printf '%-34s occystrap/skopeo = %.2f\n' "$1" "$(echo "${median[occystrap-$1]} / ${median[skopeo-$1]}" | bc -l)"; }

echo "image: $mb MB uncompressed (this machine's own files), 6 layers; $runs runs each; -j 4"
measure occystrap-registry-to-archive none $occy --insecure process "registry://127.0.0.1:$src/bench/big:1" "tar://$work/out.tar"
measure skopeo-registry-to-archive none skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$src/bench/big:1" "docker-archive:$work/out.tar:bench/big:1"
measure occystrap-archive-to-registry fresh_dst $occy --insecure process "tar://$work/big.tar" "registry://127.0.0.1:$dst/bench/big:1"
measure skopeo-archive-to-registry fresh_dst skopeo copy --quiet --dest-tls-verify=false "docker-archive:$work/big.tar" "docker://127.0.0.1:$dst/bench/big:1"
measure occystrap-registry-to-registry fresh_dst $occy --insecure process "registry://127.0.0.1:$src/bench/big:1" "registry://127.0.0.1:$dst/bench/big:1"
measure skopeo-registry-to-registry fresh_dst skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false "docker://127.0.0.1:$src/bench/big:1" "docker://127.0.0.1:$dst/bench/big:1"
measure occystrap-registry-to-layout fresh_layout $occy --insecure process "registry://127.0.0.1:$src/bench/big:1" "oci-layout://$work/layout?ref=1"
measure skopeo-registry-to-layout fresh_layout skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$src/bench/big:1" "oci:$work/layout:1"
ratio registry-to-archive
ratio archive-to-registry
ratio registry-to-registry
ratio registry-to-layout
