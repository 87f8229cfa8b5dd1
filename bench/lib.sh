# Shared by the bench scripts (source it): timing with medians.
#   measure NAME SETUP COMMAND...  runs SETUP untimed, then sync, then COMMAND, $runs times; keeps the median
#                                  seconds in median[NAME] and the highest peak RSS (MiB) in rss[NAME],
#                                  and prints the median with MB/s over $mb. The sync lets the page cache
#                                  write back what earlier runs and set-ups wrote (an image pushed into the
#                                  source registry, the last run's output), so that no run pays for another's
#                                  writes
#   none                           a SETUP that does nothing
#   ratio A B                      median[A] / median[B]
declare -A median rss
none() { :; }
measure() {
  local name=$1 setup=$2; shift 2
  local times=() start end peak=0 kb
  for _ in $(seq "$runs"); do
    $setup
    sync
    start=$(date +%s.%N)
    /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc -l)")
    kb=$(tail -n 1 "$work/rss"); [ "$kb" -gt "$peak" ] && peak=$kb
  done
  rss[$name]=$(( peak / 1024 ))
  median[$name]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  if [ -n "${quiet_measure:-}" ]; then return; fi
  printf '%-34s median %6.2f s  %7.1f MB/s\n' "$name" "${median[$name]}" "$(echo "$mb / ${median[$name]}" | bc -l)"
}
ratio() { echo "${median[$1]} / ${median[$2]}" | bc -l; }

# daemon_with_big_image PORT: for the daemon benches. Sets work (BENCH_DIR or a temp folder), starts a
# private dockerd under it, loads a generated image of about 600 MB of this machine's files in 6
# layers as $img, sets mb, and stops the dockerd and the registry on PORT at exit.
daemon_with_big_image() {
  bench_port=$1
  work=${BENCH_DIR:-$(mktemp -d)}
  export OCCY_INFRA_DIR="$work/infra"
  trap 'bash scripts/infra/registry.sh stop --port $bench_port >/dev/null 2>&1 || true; bash scripts/infra/dockerd.sh stop >/dev/null 2>&1 || true; [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"' EXIT
  [ -f "$work/big.tar" ] || bash bench/make-big-image.sh "$work/big.tar" 600 6
  mb=$(( $(stat -c %s "$work/big.tar") / 1000000 ))
  bash scripts/infra/dockerd.sh start >/dev/null
  eval "$(bash scripts/infra/dockerd.sh env)"
  export DOCKER_HOST
  docker load -q -i "$work/big.tar" >/dev/null
  img=localhost/bench/big:latest
}
