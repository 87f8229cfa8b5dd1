#!/usr/bin/env bash
# The push floor: uploads ready-made blobs into a registry with curl, 4 at a time, each as one monolithic
# PUT (POST for an upload URL, then PUT with the digest and the whole body), the least work a client can
# make a registry do for them.
# Usage: bench/upload-blobs.sh DIR HOST:PORT REPOSITORY   (DIR holds files named by their sha256 hex)
set -euo pipefail
dir=$1 registry=$2 repo=$3
upload() {
  local hex=$1 location
  location=$(curl -sf -D - -o /dev/null -X POST "http://$registry/v2/$repo/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
  case "$location" in http*) ;; *) location="http://$registry$location" ;; esac
  case "$location" in *\?*) location="$location&" ;; *) location="$location?" ;; esac
  curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' -T "$dir/$hex" "${location}digest=sha256:$hex"
}
export -f upload; export dir registry repo
ls "$dir" | xargs -P 4 -I{} bash -c 'upload {}'
