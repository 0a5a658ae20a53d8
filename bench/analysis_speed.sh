#!/usr/bin/env bash
# Analysis speed: how fast `heapline report --json` reads a trace, against `heaptrack_print` on
# heaptrack's recording of the same run. One larger workload (sqlite3, N inserts, default 200000)
# is recorded once with each tool; then each analyzer runs 3 times, paired (heapline, heaptrack,
# heapline, ...), and the median wall time of each gives events per second, where events are the
# allocations plus frees of the run (the same workload for both, counted by heapline).
#
#   bench/analysis_speed.sh [BUILD_DIR] [INSERTS]      # BUILD_DIR defaults to build
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
inserts=${2:-200000}
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

seconds() {  # wall time of "$@" in seconds, output discarded
  local start end
  start=$(date +%s.%N)
  "$@" > /dev/null 2>&1
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

hl_times=() ht_times=()
for _ in 1 2 3; do
  hl_times+=("$(seconds "$heapline" report --json "$trace")")
  ht_times+=("$(seconds heaptrack_print -f "$work/ht.zst")")
done
hl=$(median3 "${hl_times[@]}")
ht=$(median3 "${ht_times[@]}")

printf 'workload: sqlite3, %d inserts: %d events (allocations + frees)\n' "$inserts" "$events"
printf 'trace sizes: heapline %s on disk, heaptrack %s\n' \
  "$(du -h "$trace" | cut -f1)" "$(du -h "$work/ht.zst" | cut -f1)"
printf '%-26s %8.2f s  %12.0f events/s\n' "heapline report --json" "$hl" "$(echo "$events / $hl" | bc -l)"
printf '%-26s %8.2f s  %12.0f events/s\n' "heaptrack_print" "$ht" "$(echo "$events / $ht" | bc -l)"
printf 'heapline / heaptrack speed: %.2fx\n' "$(echo "$ht / $hl" | bc -l)"
