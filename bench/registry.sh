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

source bench/lib.sh
clean_out() { rm -f "$work/out.tar"; }
fresh_layout() { rm -rf "$work/layout"; rm -f "$skopeo_cache"; }
ratio_line() { printf '%-34s occystrap/skopeo = %.2f\n' "$1" "$(ratio "occystrap-$1" "skopeo-$1")"; }

echo "image: $mb MB uncompressed (this machine's own files), 6 layers; $runs runs each; -j 4"
measure occystrap-registry-to-archive clean_out $occy --insecure process "registry://127.0.0.1:$src/bench/big:1" "tar://$work/out.tar"
measure skopeo-registry-to-archive clean_out skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$src/bench/big:1" "docker-archive:$work/out.tar:bench/big:1"
measure occystrap-archive-to-registry fresh_dst $occy --insecure process "tar://$work/big.tar" "registry://127.0.0.1:$dst/bench/big:1"
measure skopeo-archive-to-registry fresh_dst skopeo copy --quiet --dest-tls-verify=false "docker-archive:$work/big.tar" "docker://127.0.0.1:$dst/bench/big:1"
measure occystrap-registry-to-registry fresh_dst $occy --insecure process "registry://127.0.0.1:$src/bench/big:1" "registry://127.0.0.1:$dst/bench/big:1"
measure skopeo-registry-to-registry fresh_dst skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false "docker://127.0.0.1:$src/bench/big:1" "docker://127.0.0.1:$dst/bench/big:1"
measure occystrap-registry-to-layout fresh_layout $occy --insecure process "registry://127.0.0.1:$src/bench/big:1" "oci-layout://$work/layout?ref=1"
measure skopeo-registry-to-layout fresh_layout skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$src/bench/big:1" "oci:$work/layout:1"
ratio_line registry-to-archive
ratio_line archive-to-registry
ratio_line registry-to-registry
ratio_line registry-to-layout
