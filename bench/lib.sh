# Shared by the bench scripts (source it): timing with medians.
#   measure NAME SETUP COMMAND...  runs SETUP untimed, then COMMAND, $runs times; keeps the median
#                                  seconds in median[NAME] and the highest peak RSS (MiB) in rss[NAME],
#                                  and prints the median with MB/s over $mb
#   none                           a SETUP that does nothing
#   ratio A B                      median[A] / median[B]
declare -A median rss
none() { :; }
measure() {
  local name=$1 setup=$2; shift 2
  local times=() start end peak=0 kb
  for _ in $(seq "$runs"); do
    $setup
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
