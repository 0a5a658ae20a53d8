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

// One record of a ring chunk, parsed ahead of its coding.
struct ParsedRecord {
  const uint8_t* record;
  uint32_t kept;  // bytes copied as they are: kind, time delta and api, or the whole record
  RecordKind kind;
  uint64_t size, address, stack;  // kAlloc and kFree (size and stack: kAlloc)
  uint32_t bucket, slot;          // the address's in the ordinal and address tables (locate)
};

// Records parsed ahead: enough for the table lines of the first to arrive while the rest parse.
constexpr size_t kBatch = 16;
// The worst a record grows by in the records section: a free's 1-byte delta becoming
// kFreeByAddress + an address code of 0 and a 10-byte delta.
constexpr size_t kMaxGrowth = 2 + format::kMaxVarintSize;
// The kept bytes of a kAlloc/kFree (at most 1 + 10 + 1) are copied as one fixed-size block.
constexpr size_t kCopyWidth = 16;

// Cursor::varint without its bounds check per byte where a whole varint's room is left (all
// but the chunk's last few bytes).
inline uint64_t read_varint(Cursor& c) {
  if (c.remaining() < format::kMaxVarintSize) return c.varint();
  uint64_t v;
  return format::varint_with_room(c.p, v) ? v : c.fail();
}

// Parses the record at c.p into `r`. False if it does not parse.
inline bool parse_record(Cursor& c, uint64_t& last_address, ParsedRecord& r) {
  r.record = c.p;
  r.kind = static_cast<RecordKind>(c.byte());
  read_varint(c);  // time delta
  if (r.kind != RecordKind::kAlloc && r.kind != RecordKind::kFree) {
    format::skip_record_fields(c, r.kind);
    r.kept = static_cast<uint32_t>(c.p - r.record);
    return c.ok;
  }
  c.byte();  // api
  r.kept = static_cast<uint32_t>(c.p - r.record);
  if (r.kind == RecordKind::kAlloc) r.size = read_varint(c);
  r.address = last_address + static_cast<uint64_t>(format::unzigzag(read_varint(c)));
  if (r.kind == RecordKind::kAlloc) r.stack = read_varint(c);
  last_address = r.address;
  return c.ok;
}

// Copies the record's kept bytes to q; `end` is where the chunk's records end.
inline uint8_t* copy_kept(uint8_t* q, const ParsedRecord& r, const uint8_t* end) {
  if (r.kept <= kCopyWidth && static_cast<size_t>(end - r.record) >= kCopyWidth) {
    std::memcpy(q, r.record, kCopyWidth);
  } else {
    std::memcpy(q, r.record, r.kept);
  }
  return q + r.kept;
}

}  // namespace

bool FrameEncoder::start(int zstd_level, uint32_t chunk_size) {
  level_ = zstd_level;
  for (Stream& s : streams_) {
    if (!s.cctx && !(s.cctx = ZSTD_createCCtx())) return false;
    if (!s.ordinal_slots) {
      // Untouched pages cost nothing: a stream touches as many as it has allocations.
      s.ordinal_slots = reinterpret_cast<format::BlockOrdinalsEncoder::Slot*>(
          map_buffer(format::kOrdinalWindow * sizeof(format::BlockOrdinalsEncoder::Slot)));
      if (!s.ordinal_slots) return false;
      s.ordinals = format::BlockOrdinalsEncoder(s.ordinal_slots);
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
  if (level_ <= 2) ZSTD_CCtx_setParameter(s.cctx, ZSTD_c_hashLog, kFastHashLog);
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
  if (n > chunk_size_) return false;
  Cursor c{records, records + n};
  uint8_t* const first = recoded_ + kLengthsRoom;
  uint8_t* q = first;
  uint8_t* sizes = sizes_;
  uint8_t* addresses = addresses_;
  uint8_t* const limit = recoded_ + recoded_capacity_;
  uint64_t last_address = 0;  // the ring chunk's own delta coding
  // Records are parsed a batch ahead of their coding, so that the lines of the ordinal and
  // address tables they need are on their way to the cache by the time they are coded.
  ParsedRecord batch[kBatch];
  while (c.ok && c.remaining() > 0) {
    const uint8_t* const batch_start = c.p;
    size_t count = 0;
    while (count < kBatch && c.remaining() > 0) {
      ParsedRecord& r = batch[count++];
      if (!parse_record(c, last_address, r)) return false;
      if (r.kind == RecordKind::kAlloc || r.kind == RecordKind::kFree) {
        r.bucket = s.ordinals.locate(r.address);
        r.slot = s.history.locate(r.address);
      }
    }
    // Every record's output is at most its own bytes plus kMaxGrowth, and a copy may write
    // kCopyWidth bytes at its end.
    const auto bound = static_cast<size_t>(c.p - batch_start) + count * kMaxGrowth + kCopyWidth;
    if (bound > static_cast<size_t>(limit - q)) return false;
    for (size_t i = 0; i < count; ++i) {
      const ParsedRecord& r = batch[i];
      q = copy_kept(q, r, c.end);
      if (r.kind == RecordKind::kAlloc) {
        sizes = format::put_varint(sizes, r.size);
        addresses = s.history.encode(addresses, r.address, r.slot);
        s.ordinals.on_alloc(r.address, r.bucket);
        q = format::put_varint(q, r.stack);
      } else if (r.kind == RecordKind::kFree) {
        const uint64_t code = s.ordinals.free_code(r.address, r.bucket);
        q = format::put_varint(q, code);
        if (code == format::kFreeByAddress) {
          q = s.history.encode(q, r.address, r.slot);
        } else {
          s.history.remember(r.address, r.slot);
        }
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
