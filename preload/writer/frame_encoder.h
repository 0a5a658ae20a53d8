// Turns sealed ring chunks into frames (format v3): records stream-coded (stream_coding.h:
// sections, addresses against the stream's address history, frees by allocation ordinal), and
// the chunks of one thread compressed as one zstd stream, a flush per chunk.
//
// Why streams: compressed alone, a 32 KiB chunk starts from an empty zstd window each time; a
// stream keeps the thread's last 1 MiB as context, and a program's allocation patterns repeat
// on that scale (sqlite3: 0.49 -> 0.14 bytes per allocation). A compressor per stream costs
// about 5 MiB (4 MiB window), an address history 128 KiB and the ordinal table 4 MiB of
// address space (touched as used: churn's 256 live blocks touch a few pages, a program with
// 100 k long-lived blocks all of it), so only kStreams are kept, given to threads as they come (least recently used
// goes); a thread that loses its stream starts a new one, which the reader sees as prev_seq 0.
//
// Used by the drain thread alone: nothing here is thread-safe, and nothing needs to be.
#pragma once

#include <zstd.h>

#include <cstddef>
#include <cstdint>

#include "heapline/stream_coding.h"
#include "heapline/trace_format.h"

namespace heapline::preload {

class FrameEncoder {
 public:
  static constexpr int kStreams = 4;
  // A 4 MiB window with zstd's long-distance matcher (matches of 128 bytes or more, found by a
  // rolling hash over the whole window): programs repeat their allocation patterns at distances
  // beyond what the level's hash table keeps. Containers (10 equal rounds, ~1.7 MiB of records
  // each): 0.23 -> 0.14 B/alloc; sqlite3 0.137 -> 0.119. The matcher costs most of zstd's
  // instructions on containers and python3 (~190 per allocation). Matches of 128 bytes rather
  // than 32: fewer, longer matches, the same bytes or fewer (sqlite3 0.120 -> 0.112 at level 3).
  // At the default level 2 (zstd's "fast" strategy) the hash table gets 2^17 entries (level 3's
  // size): against level 3 with 32-byte long matches, 10-14% fewer zstd instructions on churn,
  // containers and sqlite3 (8% more on python3), churn 3.98 -> 3.74 B/alloc, the others the
  // same within 0.5% (bench/trace_breakdown --try 2:22:1:17:128 against 3:22:1:0:32).
  // The reader's decompressor needs the window per open stream.
  static constexpr int kWindowLog = 22;
  static constexpr int kLongMatchMin = 128;
  static constexpr int kFastHashLog = 17;

  // (Re)starts with no stream open: at start-up, and in a forked child, whose trace is new.
  bool start(int zstd_level, uint32_t chunk_size);
  // Encodes one sealed chunk. Returns the frame (FrameHeader + compressed bytes) in a buffer
  // owned by the encoder, valid until the next call; size 0 on a compression error.
  const uint8_t* encode(const format::ChunkHeader& chunk, const uint8_t* records, size_t* size);

 private:
  struct Stream {
    ZSTD_CCtx* cctx = nullptr;
    uint32_t tid = 0;
    uint64_t last_seq = 0;  // 0: closed
    uint64_t last_use = 0;
    format::AddressHistoryEncoder history;
    format::BlockOrdinalsEncoder::Slot* ordinal_slots = nullptr;  // mmap'd: see BlockOrdinalsEncoder
    format::BlockOrdinalsEncoder ordinals{nullptr};
  };
  Stream& stream_for(uint32_t tid);
  // Stream-codes `n` bytes of records; the payload is at *payload. False if the records do not
  // parse (never expected of our own writer) or would not fit.
  bool recode(const uint8_t* records, size_t n, Stream& s, const uint8_t** payload,
              size_t* out_size);

  Stream streams_[kStreams];
  uint64_t uses_ = 0;
  int level_ = 3;
  uint8_t* recoded_ = nullptr;  // section lengths + records: kMaxRecodeGrowth * chunk_size bytes
  size_t recoded_capacity_ = 0;
  uint8_t* sizes_ = nullptr;      // chunk_size bytes (a size is never longer than its record)
  uint8_t* addresses_ = nullptr;  // 2 * chunk_size (11 bytes at most for a record of 6 or more)
  uint32_t chunk_size_ = 0;
  uint8_t* out_ = nullptr;      // FrameHeader + compressed bytes
  size_t out_capacity_ = 0;
};

}  // namespace heapline::preload
