#!/usr/bin/env bash
# Benchmarks occystrap's fused layer pass (normalize-timestamps + exclude) over a generated image of
# about 600 MB uncompressed, and a plain archive copy through occystrap and through skopeo in the same
# run. Prints medians of RUNS runs, MB/s, peak memory (max RSS) and the occystrap/skopeo ratio.
# Usage: bench/filters.sh [RUNS] (needs ./build.sh first, and skopeo and GNU time).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
occy=artifacts/occystrap/occystrap
work=${BENCH_DIR:-$(mktemp -d)}
trap '[ -n "${BENCH_DIR:-}" ] || rm -rf "$work"' EXIT
[ -f "$work/big.tar" ] || bash bench/make-big-image.sh "$work/big.tar" 700 6
mb=$(( $(stat -c %s "$work/big.tar") / 1000000 ))

measure() { # measure NAME COMMAND...: runs it $runs times, prints median seconds and max RSS
  local name=$1; shift
  local times=() rss=0
  for _ in $(seq "$runs"); do
    rm -f "$work/out.tar"
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    read -r t m < "$work/time"
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-40s median %6.2f s  %7.1f MB/s  peak RSS %5d MB\n' "$name" "$median" "$(echo "$mb / $median" | bc -l)" $((rss / 1024))
  echo "$median" > "$work/$name.median"
}

echo "image: $mb MB uncompressed (this machine's own files), 6 layers; $runs runs each"
measure occystrap-normalize+exclude $occy process "tar://$work/big.tar" "tar://$work/out.tar" \
  -f normalize-timestamps -f 'exclude:pattern=**/*.pyc'
measure occystrap-copy $occy process "tar://$work/big.tar" "tar://$work/out.tar"
measure skopeo-copy skopeo copy --quiet "docker-archive:$work/big.tar" "docker-archive:$work/out.tar:localhost/bench/big:latest"
printf 'ratio occystrap-copy/skopeo-copy: %.2f\n' "$(echo "$(cat "$work/occystrap-copy.median") / $(cat "$work/skopeo-copy.median")" | bc -l)"
