#!/usr/bin/env bash
# Installs the Debian packages heapline needs to build and test, only when one is missing.
# Idempotent: a second run on a ready machine does nothing but check.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libunwind-dev        # recorder: call-stack capture (the nongnu libunwind, not LLVM's)
  libzstd-dev          # recorder: chunk compression; analyzer: decompression
  libjemalloc-dev      # tests: a target under jemalloc (the analyzer was measured on it: no gain, see README)
  libdw-dev libelf-dev # analyzer: DWARF symbolization (elfutils)
  libdeflate-dev       # analyzer: inflates compressed debug sections ahead of libdw (~2x zlib)
  libc6-dbg            # analyzer: libc's frames in reports; tests: the compressed-DWARF check on it
  libspdlog-dev        # analyzer: logging
  libgtest-dev libgmock-dev # tests
  nlohmann-json3-dev   # analyzer: JSON reports
  libcli11-dev         # analyzer: command-line parsing
  libgoogle-perftools-dev # tests: a target under tcmalloc
  sqlite3 perl python3 git # real programs the tests run under heapline
  redis-server         # tests/reliability: a real server under heapline, loaded by redis-benchmark
  heaptrack            # the oracle of the differential tests and the benchmarks
  librsvg2-bin         # tests render `heapline plot`'s SVG to PNG (rsvg-convert)
  jq bc                # bench/analysis_speed.sh
  clang-14 libclang-rt-14-dev # tests/fuzz: libFuzzer and the sanitizers for the reader fuzzer
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # LLVM's libunwind-14-dev ships the same headers and conflicts with libunwind-dev.
  if dpkg-query -W -f='${Status}' libunwind-14-dev 2>/dev/null | grep -q "ok installed"; then
    $SUDO apt-get remove -y -qq libunwind-14-dev >&2
  fi
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
