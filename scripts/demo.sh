#!/usr/bin/env bash
# Builds heapline, runs it on the example program shipped in examples/, and prints the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
build_dir=${HEAPLINE_BUILD_DIR:-build}
out=$(mktemp -d)
"$build_dir/bin/heapline" run -o "$out/heapline.example.%p.trace" -- "$build_dir/bin/heapline_example" 
trace=$(ls "$out"/heapline.example.*.trace | head -n1)
"$build_dir/bin/heapline" report "$trace"
