#!/usr/bin/env bash
# Reads the same image out of a real dockerd three ways, in one run, on a generated image of about
# 600 MB (this machine's own files) in 6 layers:
#   1. `docker save -o FILE` (the daemon's own export, the floor)
#   2. docker:// -> tar://        (occystrap; skopeo copy docker-daemon: -> docker-archive:)
#   3. docker:// -> registry://   (occystrap; skopeo copy docker-daemon: -> docker://), into a fresh registry
# Prints medians, MB/s and the ratios occystrap/docker-save and occystrap/skopeo.
# Usage: bench/daemon.sh [RUNS]  (needs ./build.sh first; run as root: it starts its own dockerd and registry)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
occy=artifacts/occystrap/occystrap
dst=5121
source bench/lib.sh
daemon_with_big_image $dst
skopeo_cache=/var/lib/containers/cache/blob-info-cache-v1.boltdb
fresh_dst() {
  bash scripts/infra/registry.sh stop --port $dst >/dev/null 2>&1 || true
  bash scripts/infra/registry.sh start --port $dst >/dev/null 2>&1
  rm -f "$skopeo_cache"
}
clean_out() { rm -f "$work/out.tar"; }

echo "image: $mb MB, 6 layers; $runs runs each"
measure docker-save clean_out docker save -o "$work/out.tar" $img
measure occystrap-daemon-to-archive clean_out $occy process "docker://$img" "tar://$work/out.tar"
measure skopeo-daemon-to-archive clean_out skopeo copy --quiet --src-daemon-host "$DOCKER_HOST" "docker-daemon:$img" "docker-archive:$work/out.tar:$img"
measure occystrap-daemon-to-registry fresh_dst $occy --insecure process "docker://$img" "registry://127.0.0.1:$dst/bench/big:1"
measure skopeo-daemon-to-registry fresh_dst skopeo copy --quiet --src-daemon-host "$DOCKER_HOST" --dest-tls-verify=false "docker-daemon:$img" "docker://127.0.0.1:$dst/bench/big:1"
printf 'daemon->archive   occystrap/docker-save = %.2f  occystrap/skopeo = %.2f\n' "$(ratio occystrap-daemon-to-archive docker-save)" "$(ratio occystrap-daemon-to-archive skopeo-daemon-to-archive)"
printf 'daemon->registry  occystrap/skopeo = %.2f\n' "$(ratio occystrap-daemon-to-registry skopeo-daemon-to-registry)"
