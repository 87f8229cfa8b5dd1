#!/usr/bin/env bash
# Builds a docker-save archive for benchmarks from this machine's own files, so that layers hold
# real binaries, libraries and text (as image layers do), in deterministic order and with fixed
# times: make-big-image.sh OUT.tar [TOTAL_MB] [LAYERS]. Each layer takes files of one system folder.
set -euo pipefail
out=$1; total_mb=${2:-600}; layers=${3:-6}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
dirs=(/usr/lib/x86_64-linux-gnu /usr/share /usr/bin /usr/lib/gcc /usr/lib/jvm /opt)
per_layer=$(( total_mb * 1000000 / layers ))
diff_ids=() names=()
mkdir -p "$work/img"
for n in $(seq 0 $((layers - 1))); do
  dir=${dirs[$((n % ${#dirs[@]}))]}
  # Files under 16 MiB, sorted, until the layer's share of the size is reached (a later layer of the
  # same folder takes the next files).
  skip=$(( n / ${#dirs[@]} * per_layer ))
  # (awk stops reading early: the pipe's SIGPIPE is expected, so pipefail is off for it)
  ( set +o pipefail
    find "$dir" -type f -size -16M -printf '%s\t%p\n' 2>/dev/null | LC_ALL=C sort -t "$(printf '\t')" -k2 \
      | awk -F '\t' -v skip="$skip" -v want="$per_layer" '{ t += $1; if (t <= skip) next; if (t - skip > want) exit; print $2 }' \
      | sed 's|^/||' > "$work/list" )
  tar --format=pax --numeric-owner --mtime=@1700000000 --no-recursion -C / -T "$work/list" -cf "$work/layer.tar"
  h=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  mkdir -p "$work/img/$h"; mv "$work/layer.tar" "$work/img/$h/layer.tar"
  diff_ids+=("\"sha256:$h\""); names+=("\"$h/layer.tar\"")
done
ids=$(IFS=,; echo "${diff_ids[*]}"); layer_names=$(IFS=,; echo "${names[*]}")
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$ids" > "$work/config.json"
c=$(sha256sum "$work/config.json" | cut -d' ' -f1); mv "$work/config.json" "$work/img/$c.json"
printf '[{"Config":"%s.json","RepoTags":["localhost/bench/big:latest"],"Layers":[%s]}]' "$c" "$layer_names" > "$work/img/manifest.json"
(cd "$work/img" && tar --format=gnu -cf "$work/out.tar" ./*)
mv "$work/out.tar" "$out"
echo "wrote $out ($(du -m "$out" | cut -f1) MB, $layers layers)"
