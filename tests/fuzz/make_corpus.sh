#!/bin/sh
# Regenerates the seed corpus of the trace-reader fuzzer: a few real traces recorded with the
# smallest ring (4 chunks of 4 KiB, so each file is about 20 KiB), plus mutated copies of them
# (cut short, torn frame, flipped bytes). Inputs the fuzzer found are kept next to them as
# crash-*/regression-* files; this script does not touch those.
#
#   tests/fuzz/make_corpus.sh BUILD_DIR     (BUILD_DIR has bin/format_fixture, lib/libheapline_preload.so)
set -eu
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
corpus=$(cd "$(dirname "$0")" && pwd)/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

record() {  # NAME COUNT MODE
  HEAPLINE_OUTPUT="$work/$1" HEAPLINE_RING_CHUNKS=4 HEAPLINE_CHUNK_KB=4 HEAPLINE_RSS_MS=0 \
    LD_PRELOAD="$build/lib/libheapline_preload.so" "$build/bin/format_fixture" "$2" "$3" || true
  cp "$work/$1" "$corpus/$1"
}
flip() {  # SOURCE DEST OFFSET: DEST is SOURCE with the byte at OFFSET inverted
  cp "$corpus/$1" "$corpus/$2"
  byte=$(od -An -tu1 -j "$3" -N1 "$corpus/$1" | tr -d ' ')
  printf "$(printf '\\%03o' $((255 - byte)))" |
    dd of="$corpus/$2" bs=1 seek="$3" conv=notrunc status=none
}
cut_to() {  # SOURCE DEST SIZE
  head -c "$3" "$corpus/$1" >"$corpus/$2"
}

mkdir -p "$corpus"
record ring-only.trace 20 main
record drained.trace 1500 main
record thread.trace 300 thread
record killed.trace 300 kill

size=$(wc -c <"$corpus/drained.trace")
cut_to drained.trace cut-in-ring.trace 12345
cut_to drained.trace cut-at-ring-end.trace 20480
cut_to drained.trace cut-in-last-frame.trace $((size - 100))
cut_to drained.trace cut-in-first-frame-header.trace 20500
flip drained.trace flip-first-frame-seq.trace $((20480 + 8))
flip drained.trace flip-first-frame-body.trace $((20480 + 60))
flip drained.trace flip-data-end.trace 41
flip thread.trace flip-chunk0-used.trace $((4096 + 20))
flip thread.trace flip-chunk1-state.trace $((8192 + 4))
flip ring-only.trace flip-first-record.trace $((4096 + 64 + 3))
ls -l "$corpus"
