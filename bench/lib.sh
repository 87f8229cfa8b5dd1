# Shared by the bench scripts (source it): timing with medians.
#   measure NAME SETUP COMMAND...  runs SETUP untimed, then sync, then COMMAND, $runs times; keeps the median
#                                  seconds in median[NAME] and the highest peak RSS (MiB) in rss[NAME],
#                                  and prints the median with MB/s over $mb. The sync lets the page cache
#                                  write back what earlier runs and set-ups wrote (an image pushed into the
#                                  source registry, the last run's output), so that no run pays for another's
#                                  writes
#   time_once NAME SETUP COMMAND...  one such run, added to NAME's runs; for interleaving the runs of
#                                  several commands (A B A B ... rather than A A A B B B), so that the
#                                  machine's moods fall on each alike
#   settle NAME                    the median and peak RSS of NAME's runs so far, as measure keeps them
#                                  (BENCH_VERBOSE=1 prints each run's seconds on stderr)
#   none                           a SETUP that does nothing
#   ratio A B                      median[A] / median[B]
declare -A median rss runs_of peak_of
none() { :; }
time_once() {
  local name=$1 setup=$2; shift 2
  local start end kb
  $setup
  sync
  start=$(date +%s.%N)
  /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
  end=$(date +%s.%N)
  runs_of[$name]="${runs_of[$name]:-} $(echo "$end - $start" | bc -l)"
  [ -z "${BENCH_VERBOSE:-}" ] || printf '%-20s %6.2f s\n' "$name" "$(echo "$end - $start" | bc -l)" >&2
  kb=$(tail -n 1 "$work/rss"); [ "$kb" -gt "${peak_of[$name]:-0}" ] && peak_of[$name]=$kb
  return 0
}
settle() {
  local name=$1
  rss[$name]=$(( ${peak_of[$name]:-0} / 1024 ))
  # shellcheck disable=SC2086
  median[$name]=$(printf '%s\n' ${runs_of[$name]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
}
measure() {
  local name=$1
  runs_of[$name]=""; peak_of[$name]=0
  for _ in $(seq "$runs"); do time_once "$@"; done
  settle "$name"
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
