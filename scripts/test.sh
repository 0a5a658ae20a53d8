#!/usr/bin/env bash
# Builds heapline and runs the whole test suite (unit, end-to-end, real programs).
# Long soaks and benchmarks are not part of it: see bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
build_dir=${HEAPLINE_BUILD_DIR:-build}
# The analyzer keeps inflated debug images between runs (~/.cache/heapline by default): the tests'
# go in the build directory instead, so a test run leaves nothing in the user's home.
export HEAPLINE_CACHE_DIR=${HEAPLINE_CACHE_DIR:-$PWD/$build_dir/heapline-cache}
# Soaks (label "soak") are long: run them with `ctest --test-dir build -L soak`.
ctest --test-dir "$build_dir" --output-on-failure -j2 --timeout 600 -LE soak
