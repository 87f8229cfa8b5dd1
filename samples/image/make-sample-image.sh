#!/usr/bin/env bash
# Makes a small two-layer image from the files beside this script, as a docker-save archive that
# docker load and podman load accept: make-sample-image.sh OUT.tar [repo:tag].
# Deterministic: fixed times, owners and order, so the same checkout gives the same bytes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
name=${2:-localhost/occystrap/sample:latest}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

layer() { # layer SRC_DIR DEST_TAR
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | sed 's|^\./||') > "$work/list"
  tar --format=pax --pax-option=delete=atime,delete=ctime --numeric-owner --owner=0 --group=0 \
      --mtime=@1700000000 --mode=go-w --no-recursion -C "$1" -T "$work/list" -cf "$2"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

layer "$here/rootfs" "$work/l1.tar"
layer "$here/layer2" "$work/l2.tar"
d1=$(sha "$work/l1.tar"); d2=$(sha "$work/l2.tar")

mkdir -p "$work/img/$d1" "$work/img/$d2"
mv "$work/l1.tar" "$work/img/$d1/layer.tar"
mv "$work/l2.tar" "$work/img/$d2/layer.tar"
printf '%s' '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"Labels":{"org.opencontainers.image.title":"occystrap sample"}},"created":"2023-11-14T22:13:20Z","history":[{"created":"2023-11-14T22:13:20Z","created_by":"sample rootfs"},{"created":"2023-11-14T22:13:20Z","created_by":"sample extra file"}],"rootfs":{"type":"layers","diff_ids":["sha256:'"$d1"'","sha256:'"$d2"'"]}}' > "$work/config.json"
c=$(sha "$work/config.json")
mv "$work/config.json" "$work/img/$c.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar","%s/layer.tar"]}]' "$c" "$name" "$d1" "$d2" > "$work/img/manifest.json"
repo=${name%:*}; tag=${name##*:}
printf '{"%s":{"%s":"%s"}}' "$repo" "$tag" "$d2" > "$work/img/repositories"

mkdir -p "$(dirname "$out")"
(cd "$work/img" && find . -mindepth 1 | LC_ALL=C sort | sed 's|^\./||' > "$work/list" \
  && tar --format=ustar --numeric-owner --owner=0 --group=0 --mtime=@0 --no-recursion -T "$work/list" -cf "$work/out.tar")
mv "$work/out.tar" "$out"
echo "sample image $name written to $out"
