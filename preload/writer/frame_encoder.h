// Turns sealed ring chunks into frames (format v2): addresses recoded against the stream's
// address history, and the chunks of one thread compressed as one zstd stream, a flush per chunk.
//
// Why streams: compressed alone, a 32 KiB chunk starts from an empty zstd window each time; a
// stream keeps the thread's last 1 MiB as context, and a program's allocation patterns repeat
// on that scale (sqlite3: 0.49 -> 0.14 bytes per allocation). A compressor per stream costs
// about 2 MiB (and an address history 128 KiB), so only kStreams are kept, given to threads as they come (least recently used
// goes); a thread that loses its stream starts a new one, which the reader sees as prev_seq 0.
//
// Used by the drain thread alone: nothing here is thread-safe, and nothing needs to be.
#pragma once

#include <zstd.h>

#include <cstddef>
#include <cstdint>

#include "heapline/trace_format.h"

namespace heapline::preload {

class FrameEncoder {
 public:
  static constexpr int kStreams = 4;

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
  };
  Stream& stream_for(uint32_t tid);
  // Recodes the addresses of `n` bytes of records into recoded_; false if the records do not
  // parse (never expected of our own writer) or would not fit in a chunk's room.
  bool recode(const uint8_t* records, size_t n, format::AddressHistoryEncoder& history,
              size_t* out_size);

  Stream streams_[kStreams];
  uint64_t uses_ = 0;
  int level_ = 3;
  uint8_t* recoded_ = nullptr;  // chunk_size bytes
  size_t recoded_capacity_ = 0;
  uint8_t* out_ = nullptr;      // FrameHeader + compressed bytes
  size_t out_capacity_ = 0;
};

}  // namespace heapline::preload
