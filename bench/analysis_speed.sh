#!/usr/bin/env bash
# Analysis speed: how fast `heapline report --json` reads a trace, against `heaptrack_print` on
# heaptrack's recording of the same run. One larger workload (sqlite3, N inserts, default 200000)
# is recorded once with each tool; then each analyzer runs ROUNDS times (default 5), paired
# (heapline, heaptrack, heapline, ...), and the median wall time and the median CPU time
# (user + sys) of each give events per second, where events are the allocations plus frees of the
# run (the same workload for both, counted by heapline). heapline reads on two threads (the
# reader, and the model; libc's debug info loads on a third meanwhile), so on an idle machine its
# wall time is less than its CPU time and the wall ratio is the figure; its CPU time is the total
# work of all threads. On a busy machine both wall ratios mostly measure waiting for a core: there,
# compare instruction counts (valgrind --tool=callgrind --separate-threads=yes).
#
#   bench/analysis_speed.sh [BUILD_DIR] [INSERTS] [ROUNDS]      # BUILD_DIR defaults to build
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
inserts=${2:-200000}
rounds=${3:-5}
heapline=$build/bin/heapline
for tool in "$heapline" heaptrack heaptrack_print sqlite3 jq; do
  command -v "$tool" >/dev/null || { echo "analysis_speed: $tool not found" >&2; exit 2; }
done

work=$(mktemp -d /tmp/heapline-analysis-speed-XXXXXX)
trap 'rm -rf "$work"' EXIT

{
  echo "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);"
  echo "BEGIN;"
  seq 1 "$inserts" | awk '{ printf "INSERT INTO t(name, v) VALUES(\x27name-%d-%s\x27, %d.5);\n", $1, substr("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 1, $1 % 50), $1 }'
  echo "COMMIT;"
  echo "CREATE INDEX ti ON t(name);"
  echo "SELECT count(*), sum(v) FROM t WHERE name LIKE 'name-1%';"
} > "$work/script.sql"

echo "recording sqlite3 with $inserts inserts under both tools..." >&2
"$heapline" run -o "$work/hl.%p.trace" -- sqlite3 :memory: < "$work/script.sql" > /dev/null 2>"$work/hl.log"
heaptrack -o "$work/ht" sqlite3 :memory: < "$work/script.sql" > /dev/null 2>"$work/ht.log"
trace=$(ls "$work"/hl.*.trace)
events=$("$heapline" report --json "$trace" 2>/dev/null | jq '.summary.allocations + .summary.frees')

times_of() {  # "wall cpu" seconds of "$@", output discarded
  local TIMEFORMAT='%R %U %S' t
  t=$( { time "$@" > /dev/null 2>&1; } 2>&1 )
  echo "$t" | awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

hl_wall=() hl_cpu=() ht_wall=() ht_cpu=()
for _ in $(seq "$rounds"); do
  read -r w c < <(times_of "$heapline" report --json "$trace"); hl_wall+=("$w"); hl_cpu+=("$c")
  read -r w c < <(times_of heaptrack_print -f "$work/ht.zst"); ht_wall+=("$w"); ht_cpu+=("$c")
done
hlw=$(median "${hl_wall[@]}") hlc=$(median "${hl_cpu[@]}")
htw=$(median "${ht_wall[@]}") htc=$(median "${ht_cpu[@]}")

printf 'workload: sqlite3, %d inserts: %d events (allocations + frees); median of %d paired runs\n' \
  "$inserts" "$events" "$rounds"
printf 'trace sizes: heapline %s on disk, heaptrack %s\n' \
  "$(du -h "$trace" | cut -f1)" "$(du -h "$work/ht.zst" | cut -f1)"
printf '%-24s wall %6.2f s %11.0f events/s   cpu %6.2f s %11.0f events/s\n' "heapline report --json" \
  "$hlw" "$(echo "$events / $hlw" | bc -l)" "$hlc" "$(echo "$events / $hlc" | bc -l)"
printf '%-24s wall %6.2f s %11.0f events/s   cpu %6.2f s %11.0f events/s\n' "heaptrack_print" \
  "$htw" "$(echo "$events / $htw" | bc -l)" "$htc" "$(echo "$events / $htc" | bc -l)"
printf 'heapline speed / heaptrack_print speed: %.2fx by wall time, %.2fx by CPU time\n' \
  "$(echo "$htw / $hlw" | bc -l)" "$(echo "$htc / $hlc" | bc -l)"
