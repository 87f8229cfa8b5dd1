#!/usr/bin/env bash
# install.sh - install the Debian packages the integration tests need (only missing ones).
#
# Usage: scripts/infra/install.sh [GROUP...]        (default: all)
#   tools     skopeo umoci jq zstd attr curl busybox-static bsdutils (script: a pty for tests)
#             libdeflate0 (not a test tool: occystrap deflates layers with it where the system has it)
#   docker    docker.io runc                (dockerd + containerd)
#   podman    podman runc                   (runc, not crun: crun fails on cgroup v1 hybrid)
#   registry  docker-registry apache2-utils openssl
#   all       all of the above
# Runs `apt-get update` once, and only when something has to be installed; never installs
# recommends. Debian postinst scripts start no services here (no systemd); use the other
# scripts in this directory to run the daemons.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

[ $# -gt 0 ] || set -- all
pkgs=()
for g in "$@"; do
  case "$g" in
    tools)    pkgs+=(skopeo umoci jq zstd attr curl busybox-static bsdutils libdeflate0) ;;
    docker)   pkgs+=(docker.io runc) ;;
    podman)   pkgs+=(podman runc) ;;
    registry) pkgs+=(docker-registry apache2-utils openssl) ;;
    all)      pkgs+=(skopeo umoci jq zstd attr curl busybox-static bsdutils libdeflate0 docker.io runc podman docker-registry apache2-utils openssl) ;;
    *) echo "unknown group '$g' (tools docker podman registry all)" >&2; exit 2 ;;
  esac
done

missing=()
for p in $(printf '%s\n' "${pkgs[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install.sh: nothing to install ($*: all packages present)"
  exit 0
fi

sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
log="$(mktemp /tmp/occystrap-apt.XXXXXX.log)"
t0=$(date +%s%3N)
if ! { "${sudo[@]}" apt-get update -qq &&
       "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -30 "$log" >&2; echo "install.sh: apt-get failed (full log: $log)" >&2; exit 1
fi
rm -f "$log"
echo "install.sh: installed ${missing[*]} in $(awk -v ms=$(( $(date +%s%3N) - t0 )) 'BEGIN { printf "%.1f", ms / 1000 }') s"
