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

source bench/lib.sh
fresh() { rm -f "$work/out.tar" /var/lib/containers/cache/blob-info-cache-v1.boltdb; }
echo "image: $mb MB uncompressed, 6 layers (gzip in the registry); $runs runs each"
measure occystrap-check fresh $occy --insecure check "registry://$src"
measure skopeo-copy-to-archive fresh skopeo copy --quiet --src-tls-verify=false "docker://$src" "docker-archive:$work/out.tar:bench/big:1"
measure occystrap-check-fast fresh $occy --insecure check --fast "registry://$src"
printf 'full check: occystrap/skopeo = %.2f\n' "$(ratio occystrap-check skopeo-copy-to-archive)"
