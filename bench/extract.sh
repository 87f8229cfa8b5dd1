#!/usr/bin/env bash
# Expands the same image into a root filesystem with occystrap's dir://?expand=true and with
# `umoci unpack`, in one run, from the same OCI image layout (gzip layers), on two kinds of data:
#   real   this machine's own files (binaries, libraries, text), about 300 MB in 4 layers
#   small  30000 small text files of 1-4 KB in 3 layers, a whiteout-heavy top layer included
# Prints medians, files per second, MB/s and occystrap/umoci. occystrap also writes every layer.tar
# beside the tree (dir:// keeps them); umoci also writes its mtree manifest of the tree.
# Usage: bench/extract.sh [RUNS]  (needs ./build.sh first; run as root, as umoci unpack wants)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
occy=$PWD/artifacts/occystrap/occystrap
work=${BENCH_DIR:-$(mktemp -d)}
cleanup() { rm -rf "$work/out" "$work/bundle"; [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

make_small() { # a docker-save archive of many small text files
  local out=$1 tmp; tmp=$(mktemp -d)
  local ids=() names=()
  for n in 0 1 2; do
    rm -rf "$tmp/files"; mkdir -p "$tmp/files"
    awk -v n="$n" -v top="$tmp/files" 'BEGIN {
      srand(42 + n);
      for (i = 0; i < 10000; i++) {
        d = sprintf("%s/layer%d/d%03d", top, n, i % 400);
        if (i < 400) system("mkdir -p " d);
        f = sprintf("%s/f%05d.txt", d, i); len = 1000 + int(rand() * 3000); s = "";
        while (length(s) < len) s = s sprintf("line %d of file %d in layer %d: %f\n", length(s), i, n, rand());
        printf "%s", s > f; close(f);
      }
    }'
    if [ "$n" = 2 ]; then # whiteouts of half of layer 0's folders
      for i in $(seq 0 2 398); do mkdir -p "$tmp/files/layer0"; : > "$tmp/files/layer0/.wh.d$(printf %03d "$i")"; done
    fi
    tar --format=pax --numeric-owner --mtime=@1700000000 --sort=name -C "$tmp/files" -cf "$tmp/layer$n.tar" .
    local h; h=$(sha256sum "$tmp/layer$n.tar" | cut -d' ' -f1)
    mkdir -p "$tmp/img/$h"; mv "$tmp/layer$n.tar" "$tmp/img/$h/layer.tar"
    ids+=("\"sha256:$h\""); names+=("\"$h/layer.tar\"")
  done
  printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$(IFS=,; echo "${ids[*]}")" > "$tmp/config.json"
  local c; c=$(sha256sum "$tmp/config.json" | cut -d' ' -f1); mv "$tmp/config.json" "$tmp/img/$c.json"
  printf '[{"Config":"%s.json","RepoTags":["localhost/bench/small:latest"],"Layers":[%s]}]' "$c" "$(IFS=,; echo "${names[*]}")" > "$tmp/img/manifest.json"
  tar -C "$tmp/img" -cf "$out" .
  rm -rf "$tmp"
}

[ -f "$work/real.tar" ] || bash bench/make-big-image.sh "$work/real.tar" 300 4
[ -f "$work/small.tar" ] || make_small "$work/small.tar"

source bench/lib.sh
quiet_measure=1
fresh() { rm -rf "$work/out" "$work/bundle"; sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

for kind in real small; do
  rm -rf "$work/layout-$kind"
  "$occy" process "tar://$work/$kind.tar" "oci-layout://$work/layout-$kind?ref=x" >/dev/null 2>&1
  measure "occystrap-$kind" fresh "$occy" process "oci-layout://$work/layout-$kind?ref=x" "dir://$work/out?expand=true"
  files=$(find "$work/out/manifest" | wc -l); mb=$(du -sm --apparent-size "$work/out/manifest" | cut -f1)
  measure "umoci-$kind" fresh umoci unpack --image "$work/layout-$kind:x" "$work/bundle"
  ufiles=$(find "$work/bundle/rootfs" | wc -l)
  [ "$files" = "$ufiles" ] || echo "warning: occystrap made $files paths, umoci $ufiles"
  for tool in occystrap umoci; do
    m=${median[$tool-$kind]}
    printf '%-6s %-10s median %6.2f s  %8.0f files/s  %6.1f MB/s\n' "$kind" "$tool" "$m" "$(echo "$files / $m" | bc -l)" "$(echo "$mb / $m" | bc -l)"
  done
  printf '%-6s %d paths, %d MB: occystrap/umoci = %.2f\n' "$kind" "$files" "$mb" "$(ratio "occystrap-$kind" "umoci-$kind")"
done
