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
rm -rf "$build/found" "$build/artifacts"
mkdir -p "$build/found" "$build/artifacts"
status=0
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$build/bin/trace_reader_fuzz" -max_total_time="$seconds" -timeout="$timeout" \
    -rss_limit_mb="$rss_mb" -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/" "$build/found" "$src/tests/fuzz/corpus" || status=$?
echo "fuzz: fuzzed $(($(date +%s) - built)) s, $(find "$build/found" -type f | wc -l) new inputs"

if [ "$status" -ne 0 ] || [ -n "$(ls -A "$build/artifacts")" ]; then
  echo "fuzz: FAILED (libFuzzer exit $status); the input(s) that did it:" >&2
  ls -l "$build/artifacts" >&2
  exit 1
fi
echo "fuzz: no crash, leak, timeout or memory blow-up"
