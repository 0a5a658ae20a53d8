#include "frame_encoder.h"

#include <sys/mman.h>

#include <cstring>

namespace heapline::preload {

using format::Cursor;
using format::RecordKind;

namespace {

// Buffers come from mmap, not malloc: the drain's own memory stays out of the target's heap.
uint8_t* map_buffer(size_t size) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

}  // namespace

bool FrameEncoder::start(int zstd_level, uint32_t chunk_size) {
  level_ = zstd_level;
  for (Stream& s : streams_) {
    if (!s.cctx && !(s.cctx = ZSTD_createCCtx())) return false;
    s.tid = 0;
    s.last_seq = 0;
    s.last_use = 0;
  }
  if (recoded_capacity_ < chunk_size) {
    recoded_ = map_buffer(chunk_size);
    out_capacity_ = sizeof(format::FrameHeader) + ZSTD_compressBound(chunk_size) + ZSTD_CStreamOutSize();
    out_ = map_buffer(out_capacity_);
    if (!recoded_ || !out_) return false;
    recoded_capacity_ = chunk_size;
  }
  return true;
}

FrameEncoder::Stream& FrameEncoder::stream_for(uint32_t tid) {
  Stream* oldest = &streams_[0];
  for (Stream& s : streams_) {
    if (s.last_seq && s.tid == tid) return s;
    if (s.last_use < oldest->last_use) oldest = &s;
  }
  Stream& s = *oldest;
  ZSTD_CCtx_reset(s.cctx, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(s.cctx, ZSTD_c_compressionLevel, level_);
  ZSTD_CCtx_setParameter(s.cctx, ZSTD_c_windowLog, 20);
  s.tid = tid;
  s.last_seq = 0;
  s.history.reset();
  return s;
}

bool FrameEncoder::recode(const uint8_t* records, size_t n, format::AddressHistoryEncoder& history,
                          size_t* out_size) {
  // The worst a record can grow by is one address: a 1-byte delta becoming 0 + a 10-byte one.
  constexpr size_t kMaxGrowth = 1 + format::kMaxVarintSize;
  Cursor c{records, records + n};
  uint8_t* q = recoded_;
  uint8_t* const limit = recoded_ + recoded_capacity_;
  uint64_t last_address = 0;  // the ring chunk's own delta coding
  while (c.ok && c.remaining() > 0) {
    const uint8_t* record = c.p;
    const auto kind = static_cast<RecordKind>(c.byte());
    c.varint();  // time delta
    if (kind != RecordKind::kAlloc && kind != RecordKind::kFree) {
      format::skip_record_fields(c, kind);
      const auto length = static_cast<size_t>(c.p - record);
      if (!c.ok || length > static_cast<size_t>(limit - q)) return false;
      std::memcpy(q, record, length);
      q += length;
      continue;
    }
    c.byte();  // api
    const uint8_t* const kept_end = c.p;  // kind, time delta and api are copied as they are
    const uint64_t size = kind == RecordKind::kAlloc ? c.varint() : 0;
    const uint64_t address = last_address + static_cast<uint64_t>(format::unzigzag(c.varint()));
    const uint64_t stack = kind == RecordKind::kAlloc ? c.varint() : 0;
    last_address = address;
    const auto length = static_cast<size_t>(c.p - record);
    if (!c.ok || length + kMaxGrowth > static_cast<size_t>(limit - q)) return false;
    std::memcpy(q, record, static_cast<size_t>(kept_end - record));
    q += kept_end - record;
    if (kind == RecordKind::kAlloc) q = format::put_varint(q, size);
    q = history.encode(q, address);
    if (kind == RecordKind::kAlloc) q = format::put_varint(q, stack);
  }
  if (!c.ok) return false;
  *out_size = static_cast<size_t>(q - recoded_);
  return true;
}

const uint8_t* FrameEncoder::encode(const format::ChunkHeader& chunk, const uint8_t* records,
                                    size_t* size) {
  *size = 0;
  const uint32_t raw = chunk.used.load(std::memory_order_acquire);
  Stream& s = stream_for(chunk.tid);
  s.last_use = ++uses_;

  // Recode into recoded_. If that fails, the frame carries the records as the ring had them,
  // and since the history took in part of the chunk, the stream ends here: the thread's next
  // chunk starts a new one, with a fresh history on both sides.
  size_t recoded_size = 0;
  const bool recoded = recode(records, raw, s.history, &recoded_size);
  const uint8_t* payload = recoded ? recoded_ : records;
  const size_t payload_size = recoded ? recoded_size : raw;

  auto* header = reinterpret_cast<format::FrameHeader*>(out_);
  ZSTD_outBuffer out{out_ + sizeof *header, out_capacity_ - sizeof *header, 0};
  ZSTD_inBuffer in{payload, payload_size, 0};
  size_t left;
  do {
    left = ZSTD_compressStream2(s.cctx, &out, &in, ZSTD_e_flush);
    if (ZSTD_isError(left) || (left && out.pos == out.size)) {
      s.last_seq = 0;  // the stream is in an unknown state: the next chunk starts a new one
      return nullptr;
    }
  } while (left != 0);

  *header = {};
  header->magic = format::kFrameMagic;
  header->tid = chunk.tid;
  header->seq = chunk.seq;
  header->base_time = chunk.base_time;
  header->raw_size = static_cast<uint32_t>(payload_size);
  header->compressed_size = static_cast<uint32_t>(out.pos);
  header->prev_seq = s.last_seq;
  header->flags = recoded ? format::kFrameAddressHistory : 0;
  header->header_checksum = format::frame_header_checksum(*header);
  s.last_seq = recoded ? chunk.seq : 0;
  *size = sizeof *header + out.pos;
  return out_;
}

}  // namespace heapline::preload
