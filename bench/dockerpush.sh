#!/usr/bin/env bash
# Gets the same image out of a real dockerd into a registry three ways, in one run, on a generated
# image of about 600 MB (this machine's own files) in 6 layers:
#   1. `docker save` to a file, then occystrap tar:// -> registry://
#   2. occystrap dockerpush:// -> registry://  (the daemon pushes to the embedded registry, in parallel)
#   3. `docker push` straight to the same registry (the daemon's own floor)
#   4. dockerpush:// again with a warm --layer-cache, to a destination that has the layers: the daemon
#      is told every layer is there and sends only the config
# Each run starts from a fresh destination registry. Prints medians and the ratios.
# With OCCY_BASELINE=PATH (another build's occystrap binary), dockerpush:// is also run with that build,
# in the same run, to compare two versions on the same noise.
# Usage: bench/dockerpush.sh [RUNS]  (needs ./build.sh first; run as root: it starts its own dockerd and registry)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
occy=$PWD/artifacts/occystrap/occystrap
dst=5122
source bench/lib.sh
daemon_with_big_image $dst
fresh_dst() {
  bash scripts/infra/registry.sh stop --port $dst >/dev/null 2>&1 || true
  bash scripts/infra/registry.sh start --port $dst >/dev/null 2>&1
  rm -f "$work/saved.tar"
}
docker tag $img 127.0.0.1:$dst/bench/big:pushed

echo "image: $mb MB, 6 layers; $runs runs each"
measure save-then-occystrap fresh_dst sh -c "docker save -o '$work/saved.tar' $img && '$occy' --insecure process 'tar://$work/saved.tar' 'registry://127.0.0.1:$dst/bench/big:1'"
measure occystrap-dockerpush fresh_dst "$occy" --insecure process "dockerpush://$img" "registry://127.0.0.1:$dst/bench/big:1"
if [ -n "${OCCY_BASELINE:-}" ]; then
  measure baseline-dockerpush fresh_dst "$OCCY_BASELINE" --insecure process "dockerpush://$img" "registry://127.0.0.1:$dst/bench/big:1"
fi
cache="$work/layer-cache.json"
warm_cache() {
  if [ ! -f "$cache" ]; then
    fresh_dst
    "$occy" --insecure --layer-cache "$cache" process "dockerpush://$img" "registry://127.0.0.1:$dst/bench/big:1" >/dev/null 2>&1
  fi
}
measure occystrap-dockerpush-cached warm_cache "$occy" --insecure --layer-cache "$cache" process "dockerpush://$img" "registry://127.0.0.1:$dst/bench/big:2"
measure docker-push fresh_dst docker push -q 127.0.0.1:$dst/bench/big:pushed
printf 'dockerpush/(save+occystrap) = %.2f   dockerpush/docker-push = %.2f\n' "$(ratio occystrap-dockerpush save-then-occystrap)" "$(ratio occystrap-dockerpush docker-push)"
if [ -n "${OCCY_BASELINE:-}" ]; then
  printf 'dockerpush/baseline-dockerpush = %.2f\n' "$(ratio occystrap-dockerpush baseline-dockerpush)"
fi
