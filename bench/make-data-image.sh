#!/usr/bin/env bash
# Builds a docker-save archive of generated data for benchmarks, the same bytes on every run:
#   make-data-image.sh OUT.tar KIND [TOTAL_MB] [LAYERS]
# KIND is one of
#   random     incompressible bytes (an AES-CTR key stream)
#   text       base64 text of random bytes, in 76-column lines (compresses to about 75%)
#   redundant  `seq` output and repeated log lines (compresses to a few percent)
#   mix        each layer 40% random, 30% text, 20% seq output, 10% zeros
#   debian     a Debian minbase root file system from debootstrap, in one layer (TOTAL_MB is ignored)
# Every file is 4 MB; names, times and owners are fixed.
set -euo pipefail
out=$1; kind=$2; total_mb=${3:-300}; layers=${4:-6}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
file_bytes=4000000

keystream() { # SEED BYTES: deterministic incompressible bytes
  openssl enc -aes-256-ctr -nosalt -pass "pass:$1" -pbkdf2 -iter 1 </dev/zero 2>/dev/null | head -c "$2"
}
make_file() { # KIND SEED(a number) PATH; the generators stop at SIGPIPE, which is expected
  set +o pipefail
  case "$1" in
    random) keystream "$2" $file_bytes >"$3" ;;
    text) keystream "$2" $((file_bytes * 57 / 77)) | base64 -w 76 | head -c $file_bytes >"$3" ;;
    seq) seq "$(( $2 * 1000000 + 1 ))" 999999999999 | head -c $file_bytes >"$3" ;;
    log) awk -v s="$2" 'BEGIN { for (i = 0; ; i++) printf "2026-01-01T00:00:%02d.%06dZ INFO worker-%d request %s/%d served in %dms status=200\n", i % 60, i % 1000000, i % 8, s, i, i % 97 }' \
           | head -c $file_bytes >"$3" ;;
    zeros) head -c $file_bytes /dev/zero >"$3" ;;
  esac
  set -o pipefail
}

mkdir -p "$work/img"
diff_ids=() names=()
add_layer() { # FOLDER: tar it into the image as the next layer
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | sed 's|^\./||') >"$work/list"
  tar --format=pax --numeric-owner --owner=0 --group=0 --mtime=@1700000000 --no-recursion -C "$1" -T "$work/list" -cf "$work/layer.tar"
  local h; h=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  mkdir -p "$work/img/$h"; mv "$work/layer.tar" "$work/img/$h/layer.tar"
  diff_ids+=("\"sha256:$h\""); names+=("\"$h/layer.tar\"")
}

if [ "$kind" = debian ]; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk '$2=="bookworm"{print $1; exit}')
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >/dev/null
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin "$work/rootfs/var/cache/apt/archives/"*.deb \
    "$work/rootfs/var/log/"* "$work/rootfs/etc/apt/sources.list"
  add_layer "$work/rootfs"
  layers=1
else
  files=$(( total_mb * 1000000 / layers / file_bytes ))
  for n in $(seq 0 $((layers - 1))); do
    rm -rf "$work/layer"; mkdir -p "$work/layer/data"
    for f in $(seq 0 $((files - 1))); do
      seed=$(( n * 1000 + f ))
      case "$kind" in
        random|text) k=$kind ;;
        redundant) if [ $((f % 2)) -eq 0 ]; then k=seq; else k=log; fi ;;
        mix) p=$(( f * 10 / files )); if [ $p -lt 4 ]; then k=random; elif [ $p -lt 7 ]; then k=text; elif [ $p -lt 9 ]; then k=seq; else k=zeros; fi ;;
        *) echo "make-data-image.sh: unknown kind $kind" >&2; exit 2 ;;
      esac
      make_file $k "$seed" "$work/layer/data/$(printf '%04d' "$f").$k"
    done
    add_layer "$work/layer"
  done
fi

ids=$(IFS=,; echo "${diff_ids[*]}"); layer_names=$(IFS=,; echo "${names[*]}")
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$ids" > "$work/config.json"
c=$(sha256sum "$work/config.json" | cut -d' ' -f1); mv "$work/config.json" "$work/img/$c.json"
printf '[{"Config":"%s.json","RepoTags":["localhost/bench/%s:latest"],"Layers":[%s]}]' "$c" "$kind" "$layer_names" > "$work/img/manifest.json"
(cd "$work/img" && tar --format=gnu -cf "$work/out.tar" ./*)
mv "$work/out.tar" "$out"
echo "wrote $out ($(du -m "$out" | cut -f1) MB, $kind, $layers layers)"
