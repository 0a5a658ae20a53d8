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
    if (!s.ordinal_ring) {
      // Untouched pages cost nothing: a stream touches as many as it has allocations.
      s.ordinal_ring = reinterpret_cast<uint64_t*>(map_buffer(format::kOrdinalWindow * 8));
      s.ordinal_slots = reinterpret_cast<format::BlockOrdinalsEncoder::Slot*>(
          map_buffer(format::kOrdinalWindow * sizeof(format::BlockOrdinalsEncoder::Slot)));
      if (!s.ordinal_ring || !s.ordinal_slots) return false;
      s.ordinals = format::BlockOrdinalsEncoder(s.ordinal_ring, s.ordinal_slots);
    }
    s.tid = 0;
    s.last_seq = 0;
    s.last_use = 0;
  }
  if (chunk_size_ < chunk_size) {
    recoded_capacity_ = static_cast<size_t>(format::kMaxRecodeGrowth) * chunk_size;
    recoded_ = map_buffer(recoded_capacity_);
    sizes_ = map_buffer(chunk_size);
    addresses_ = map_buffer(2 * static_cast<size_t>(chunk_size));
    out_capacity_ = sizeof(format::FrameHeader) + ZSTD_compressBound(recoded_capacity_) +
                    ZSTD_CStreamOutSize();
    out_ = map_buffer(out_capacity_);
    if (!recoded_ || !sizes_ || !addresses_ || !out_) return false;
    chunk_size_ = chunk_size;
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
  ZSTD_CCtx_setParameter(s.cctx, ZSTD_c_windowLog, kWindowLog);
  ZSTD_CCtx_setParameter(s.cctx, ZSTD_c_enableLongDistanceMatching, 1);
  ZSTD_CCtx_setParameter(s.cctx, ZSTD_c_ldmMinMatch, kLongMatchMin);
  s.tid = tid;
  s.last_seq = 0;
  s.history.reset();
  s.ordinals.reset();
  return s;
}

bool FrameEncoder::recode(const uint8_t* records, size_t n, Stream& s, const uint8_t** payload,
                          size_t* out_size) {
  // The section lengths go in front of the records once they are known: room for two varints.
  constexpr size_t kLengthsRoom = 2 * format::kMaxVarintSize;
  // The worst a record grows by in the records section: a free's 1-byte delta becoming
  // kFreeByAddress + an address code of 0 and a 10-byte delta.
  constexpr size_t kMaxGrowth = 2 + format::kMaxVarintSize;
  if (n > chunk_size_) return false;
  Cursor c{records, records + n};
  uint8_t* const first = recoded_ + kLengthsRoom;
  uint8_t* q = first;
  uint8_t* sizes = sizes_;
  uint8_t* addresses = addresses_;
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
    if (kind == RecordKind::kAlloc) {
      sizes = format::put_varint(sizes, size);
      addresses = s.history.encode(addresses, address);
      s.ordinals.on_alloc(address);
      q = format::put_varint(q, stack);
    } else {
      const uint64_t code = s.ordinals.free_code(address);
      q = format::put_varint(q, code);
      if (code == format::kFreeByAddress) {
        q = s.history.encode(q, address);
      } else {
        s.history.remember(address);
      }
    }
  }
  if (!c.ok) return false;
  const auto records_size = static_cast<size_t>(q - first);
  const auto sizes_size = static_cast<size_t>(sizes - sizes_);
  const auto addresses_size = static_cast<size_t>(addresses - addresses_);
  uint8_t lengths[kLengthsRoom];
  uint8_t* e = format::put_varint(format::put_varint(lengths, records_size), sizes_size);
  const auto lengths_size = static_cast<size_t>(e - lengths);
  if (sizes_size + addresses_size > static_cast<size_t>(limit - q)) return false;
  uint8_t* const start = first - lengths_size;
  std::memcpy(start, lengths, lengths_size);
  std::memcpy(q, sizes_, sizes_size);
  std::memcpy(q + sizes_size, addresses_, addresses_size);
  *payload = start;
  *out_size = lengths_size + records_size + sizes_size + addresses_size;
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
  const uint8_t* recoded_payload = nullptr;
  const bool recoded = recode(records, raw, s, &recoded_payload, &recoded_size);
  const uint8_t* payload = recoded ? recoded_payload : records;
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
  header->flags = recoded ? format::kFrameStreamCoded : 0;
  header->header_checksum = format::frame_header_checksum(*header);
  s.last_seq = recoded ? chunk.seq : 0;
  *size = sizeof *header + out.pos;
  return out_;
}

}  // namespace heapline::preload
