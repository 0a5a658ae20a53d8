#!/usr/bin/env bash
# Builds the libFuzzer trace-reader target with clang in its own build directory and fuzzes the
# reader for a bounded time, seeded from tests/fuzz/corpus/. The ctest trace_reader_fuzz_run
# (label "fuzz") runs it; by hand it is the way to fuzz longer:
#
#   tests/fuzz/run_fuzzer.sh SOURCE_DIR FUZZ_BUILD_DIR SECONDS
#
# Fails (exit 1) on any crash, sanitizer report (ASan, UBSan, LeakSanitizer), input slower than
# ${timeout}s, or RSS above ${rss_mb} MiB, and names the input that did it: add that file to
# tests/fuzz/corpus/ as crash-<what>.trace once the reader is fixed. Inputs that reached new code
# are left in FUZZ_BUILD_DIR/found/ (merge them into the corpus with libFuzzer's -merge=1 when
# they are worth keeping).
#
# Environment: HEAPLINE_FUZZ_CXX (default clang++-14, else clang++), CMAKE (the cmake to use),
# HEAPLINE_FUZZ_SKIP=1 skips (exit 77) instead of failing where clang cannot be installed.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 SOURCE_DIR FUZZ_BUILD_DIR SECONDS" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
build=$2
seconds=$3
timeout=10   # seconds one input may take; the seeds take milliseconds
rss_mb=512   # the inputs are at most 64 KiB; the reader's memory must stay proportionate
cmake=${CMAKE:-cmake}

if [ "${HEAPLINE_FUZZ_SKIP:-0}" = 1 ]; then
  echo "fuzz: skipped (HEAPLINE_FUZZ_SKIP=1)"
  exit 77
fi

cxx=${HEAPLINE_FUZZ_CXX:-}
if [ -z "$cxx" ]; then
  for candidate in clang++-14 clang++; do
    if command -v "$candidate" >/dev/null; then cxx=$candidate; break; fi
  done
fi
if [ -z "$cxx" ] || ! command -v "$cxx" >/dev/null; then
  echo "fuzz: FAILED: no clang++ (${cxx:-none found}) to build the libFuzzer target;" \
       "scripts/setup.sh installs clang-14 and libclang-rt-14-dev" \
       "(HEAPLINE_FUZZ_SKIP=1 skips this test where that is impossible)" >&2
  exit 1
fi
cc=$(dirname "$(command -v "$cxx")")/$(basename "$cxx" | sed 's/clang++/clang/')

started=$(date +%s)
mkdir -p "$build"
if [ ! -f "$build/CMakeCache.txt" ]; then
  "$cmake" -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEAPLINE_FUZZ=ON \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    echo "fuzz: FAILED: configuring the clang build in $build" >&2
    exit 1
  }
fi
"$cmake" --build "$build" --target trace_reader_fuzz -j 2
built=$(date +%s)
echo "fuzz: configure + build $((built - started)) s"

# libFuzzer writes new inputs into the first corpus directory: a scratch one, never the source
# tree. The checked-in corpus is read as seeds.
rm -rf "$build/found" "$build/artifacts" "$build/stalls"
mkdir -p "$build/found" "$build/artifacts" "$build/stalls"
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fuzzer=("$build/bin/trace_reader_fuzz" -timeout="$timeout" -rss_limit_mb="$rss_mb")

# libFuzzer judges a timeout by the clock: on a loaded machine (or a paused VM) an input the
# reader finishes in milliseconds has been caught "working for 16 s" (a throw, in ASan's stack
# unpoisoning). The reader's work is a function of the input bytes alone, so a real hang hangs
# again: a timeout input is run once more by itself, and one that then finishes in time was a
# stall of the machine. It is set aside in stalls/ and fuzzing goes on for the time left; a third
# stall fails the test (the machine is too loaded for the limit to mean anything).
deadline=$((built + seconds))
stalls=0
status=0
while left=$((deadline - $(date +%s))); [ "$left" -gt 0 ]; do
  status=0
  "${fuzzer[@]}" -max_total_time="$left" -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/" "$build/found" "$src/tests/fuzz/corpus" || status=$?
  [ "$status" -eq 0 ] && [ -z "$(ls -A "$build/artifacts")" ] && break
  found=$(ls "$build/artifacts")
  [ -n "$found" ] && [ -z "$(echo "$found" | grep -v '^timeout-')" ] && [ "$stalls" -lt 2 ] ||
    break
  for input in "$build/artifacts"/timeout-*; do
    "${fuzzer[@]}" "$input" >"$build/stalls/replay.log" 2>&1 || break 2
    echo "fuzz: $(basename "$input") ran in time by itself: a stall of the machine, not a hang"
    mv "$input" "$build/stalls/"
  done
  stalls=$((stalls + 1))
  status=0
done
echo "fuzz: fuzzed $(($(date +%s) - built)) s, $(find "$build/found" -type f | wc -l) new inputs"

if [ "$status" -ne 0 ] || [ -n "$(ls -A "$build/artifacts")" ]; then
  echo "fuzz: FAILED (libFuzzer exit $status); the input(s) that did it:" >&2
  ls -l "$build/artifacts" >&2
  [ -s "$build/stalls/replay.log" ] && cat "$build/stalls/replay.log" >&2
  exit 1
fi
echo "fuzz: no crash, leak, timeout or memory blow-up"
