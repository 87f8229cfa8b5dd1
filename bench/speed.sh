#!/usr/bin/env bash
# The speed table: the same work through occystrap and skopeo copy, in one run, on several kinds of
# data, against the Debian docker-registry on loopback, with -j 4 (occystrap's default):
#   pull   registry -> docker-archive
#   push   docker-archive -> registry (every layer is compressed here: the archive holds plain tars)
#   copy   registry -> another registry
#   floor  the layer blobs occystrap pushed, uploaded ready-made by curl, 4 at a time, into a fresh registry:
#          what the registry itself needs (it hashes every byte), below which no push can go; its
#          ratio is to skopeo's push
# on each kind of image (bench/make-big-image.sh and bench/make-data-image.sh):
#   real       this machine's own files (binaries, libraries, text), 600 MB in 6 layers
#   mix        6 layers of 40% random bytes, 30% base64 text, 20% seq output, 10% zeros, 600 MB
#   random     incompressible bytes, 300 MB in 6 layers
#   text       base64 text, 300 MB in 6 layers
#   redundant  seq output and repeated log lines, 300 MB in 6 layers
#   debian     a Debian minbase root file system (debootstrap), one layer
# and then start-up: a tiny archive copied tar -> tar, and --help.
# The two tools take turns run by run, and every timed run starts after a sync (bench/lib.sh).
# Each push goes to a freshly started, empty registry and skopeo's blob-info cache is removed first,
# so neither tool can skip blobs an earlier run left. The source registry holds skopeo's own push of
# each image, so both tools pull the same blobs.
# Prints, per kind and work: medians, occystrap/skopeo, the highest peak RSS of each tool, and for the
# push the compressed size of all layers as a percentage of the plain layers, for each tool.
# Usage: bench/speed.sh [RUNS] [KIND...]   (needs ./build.sh first; run as root)
#   BENCH_CACHE=DIR keeps the generated images between runs (default: a fresh temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}; shift || true
kinds=("$@"); [ ${#kinds[@]} -gt 0 ] || kinds=(real mix random text redundant debian)
occy=$PWD/artifacts/occystrap/occystrap
[ -x "$occy" ] || { echo "speed.sh: build first (./build.sh)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
work=$(mktemp -d)
cache=${BENCH_CACHE:-$work/images}
mkdir -p "$cache"
export OCCY_INFRA_DIR="$work/infra"
src=5130 dst=5131
skopeo_cache=/var/lib/containers/cache/blob-info-cache-v1.boltdb
cleanup() {
  bash scripts/infra/registry.sh stop --port $src >/dev/null 2>&1 || true
  bash scripts/infra/registry.sh stop --port $dst >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/infra/registry.sh start --port $src >/dev/null 2>&1

fresh_dst() {
  bash scripts/infra/registry.sh stop --port $dst >/dev/null 2>&1 || true
  bash scripts/infra/registry.sh start --port $dst >/dev/null 2>&1
  rm -f "$skopeo_cache"
}
clean_out() { rm -f "$work/out.tar"; }
# The compressed size of the layers of REPO:1 in the destination, in bytes.
pushed_bytes() {
  curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
    "http://127.0.0.1:$dst/v2/$1/manifests/1" | python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))'
}
# Copies the layer blobs of REPO:1 out of the destination registry's storage into $work/blobs, named by
# their hex digest, for the push floor.
keep_blobs() {
  rm -rf "$work/blobs"; mkdir -p "$work/blobs"
  curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
    "http://127.0.0.1:$dst/v2/$1/manifests/1" | python3 -c 'import json,sys; [print(l["digest"][7:]) for l in json.load(sys.stdin)["layers"]]' |
    while read -r hex; do
      cp "$OCCY_INFRA_DIR/registry-$dst/data/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data" "$work/blobs/$hex"
    done
}

source bench/lib.sh
rows=()
row() { # KIND WORK OCCY_NAME SKOPEO_NAME [OCCY_PCT SKOPEO_PCT]
  rows+=("$(printf '| %-9s | %-4s | %7.2f s | %7.2f s | %5.2f | %4s / %-4s | %s |' "$1" "$2" "${median[$3]}" "${median[$4]}" \
    "$(ratio "$3" "$4")" "${rss[$3]}" "${rss[$4]}" "${5:+$5% / $6%}")")
}

for kind in "${kinds[@]}"; do
  img=$cache/$kind.tar
  if [ ! -f "$img" ]; then
    case "$kind" in
      real) bash bench/make-big-image.sh "$img" 600 6 >/dev/null ;;
      mix) bash bench/make-data-image.sh "$img" mix 600 6 >/dev/null ;;
      debian) bash bench/make-data-image.sh "$img" debian >/dev/null ;;
      *) bash bench/make-data-image.sh "$img" "$kind" 300 6 >/dev/null ;;
    esac
  fi
  mb=$(( $(stat -c %s "$img") / 1000000 ))
  plain=$(tar -tvf "$img" | awk '$NF ~ /layer.tar$/ {s += $3} END {print s}')
  repo=bench/$kind
  skopeo copy --quiet --dest-tls-verify=false "docker-archive:$img" "docker://127.0.0.1:$src/$repo:1"
  echo "$kind: $mb MB" >&2

  # The tools take turns, run by run, so that the machine's moods fall on both alike.
  for r in $(seq "$runs"); do
    time_once o-pull-$kind clean_out "$occy" --insecure process "registry://127.0.0.1:$src/$repo:1" "tar://$work/out.tar"
    time_once s-pull-$kind clean_out skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$src/$repo:1" "docker-archive:$work/out.tar:$repo:1"
  done
  for r in $(seq "$runs"); do
    time_once o-push-$kind fresh_dst "$occy" --insecure process "tar://$img" "registry://127.0.0.1:$dst/$repo:1"
    if [ "$r" = 1 ]; then
      o_pct=$(echo "scale=1; 100 * $(pushed_bytes "$repo") / $plain" | bc -l)
      keep_blobs "$repo"
    fi
    time_once f-push-$kind fresh_dst bash bench/upload-blobs.sh "$work/blobs" "127.0.0.1:$dst" "$repo"
    time_once s-push-$kind fresh_dst skopeo copy --quiet --dest-tls-verify=false "docker-archive:$img" "docker://127.0.0.1:$dst/$repo:1"
    [ "$r" != 1 ] || s_pct=$(echo "scale=1; 100 * $(pushed_bytes "$repo") / $plain" | bc -l)
  done
  for r in $(seq "$runs"); do
    time_once o-copy-$kind fresh_dst "$occy" --insecure process "registry://127.0.0.1:$src/$repo:1" "registry://127.0.0.1:$dst/$repo:1"
    time_once s-copy-$kind fresh_dst skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false "docker://127.0.0.1:$src/$repo:1" "docker://127.0.0.1:$dst/$repo:1"
  done
  for w in pull push copy; do settle o-$w-$kind; settle s-$w-$kind; done
  settle f-push-$kind
  row "$kind" pull o-pull-$kind s-pull-$kind
  row "$kind" push o-push-$kind s-push-$kind "$o_pct" "$s_pct"
  row "$kind" floor f-push-$kind s-push-$kind
  row "$kind" copy o-copy-$kind s-copy-$kind
done

# Start-up: a tiny image (the sample one build.sh makes), and the help text.
tiny=$PWD/artifacts/sample-image.tar
image_runs=$runs
runs=$(( runs < 5 ? 5 : runs ))
for _ in $(seq "$runs"); do
  time_once o-tiny-start clean_out "$occy" process "tar://$tiny" "tar://$work/out.tar"
  time_once s-tiny-start clean_out skopeo copy --quiet "docker-archive:$tiny" "docker-archive:$work/out.tar:tiny:1"
  time_once o-help-start none "$occy" --help
  time_once s-help-start none skopeo --help
done
for n in o-tiny-start s-tiny-start o-help-start s-help-start; do settle $n; done
row tiny tar o-tiny-start s-tiny-start
row help help o-help-start s-help-start

echo
echo "medians of $image_runs runs (start-up: of $runs); RSS: highest peak of any run, MiB; push size: all layers compressed, % of the plain layers"
echo "floor: curl uploading the blobs occystrap pushed, ready-made (occystrap column), beside skopeo's push"
echo
echo "| data      | work | occystrap | skopeo    | ratio | RSS MiB o / s | push size o / s |"
echo "|-----------|------|-----------|-----------|-------|---------------|-----------------|"
printf '%s\n' "${rows[@]}"
