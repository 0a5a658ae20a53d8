// heapline trace format, version 3: the one contract between the recorder (preload/) and the
// analyzer (analyzer/). Standard library only. docs/trace-format.md describes it byte by byte.
//
// A trace file is three regions:
//
//   offset 0            ring_offset                     data_offset
//   +------------------+--------------------------------+---------------------------------+
//   | FileHeader (4 KiB)| ring: chunk_count x chunk_size | compressed frames, appended ... |
//   +------------------+--------------------------------+---------------------------------+
//
// Threads append records to chunks of the ring, which is mapped MAP_SHARED: a record is in the
// page cache, and so survives SIGKILL, the moment its chunk's `used` counter is published. The
// recorder's drain thread compresses sealed chunks (zstd) into frames appended after the ring and
// then frees the chunk for reuse. The frames of one thread form a zstd stream (each frame is a
// flush of it), so that the compressor sees across chunk boundaries, and their addresses refer
// back to earlier ones (AddressHistory); both are what make a trace small (docs/trace-format.md). A reader takes every frame plus every chunk still in the ring
// whose sequence number no frame holds; a chunk is a self-contained run of records of one thread
// in time order, so the reader merges chunks by timestamp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace heapline::format {

inline constexpr char kFileMagic[8] = {'H', 'E', 'A', 'P', 'L', 'N', 'T', 'R'};
inline constexpr uint32_t kVersion = 3;
inline constexpr uint32_t kFileHeaderSize = 4096;
// Record times are in ticks of 2^16 ns (65.5 us). Finer times are noise that does not compress:
// on sqlite3, 1 us ticks cost 0.61 bytes per allocation against 0.14 for 65 us (of a total of
// 0.15 for heaptrack, which stamps time every 10 ms). Within one tick the events of different
// threads are not ordered by time; the reader puts frees first and the model matches a free
// that comes before its allocation (see docs/trace-format.md, "Merge").
inline constexpr uint32_t kTimeShift = 16;
inline constexpr uint32_t kChunkMagic = 0x4B484C48;  // "HLHK" little-endian
inline constexpr uint32_t kFrameMagic = 0x46484C48;  // "HLHF" little-endian

// ---------------------------------------------------------------------------------------------
// File header: written once by the recorder when it creates the file; `data_end` is advanced by
// the drain thread after each frame is fully written (a hint; readers also scan frame by frame).
struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;         // kFileHeaderSize
  uint32_t chunk_size;          // bytes per ring chunk, including its ChunkHeader
  uint32_t chunk_count;         // chunks in the ring
  uint64_t ring_offset;         // file offset of chunk 0
  uint64_t data_offset;         // file offset of the first compressed frame
  uint64_t data_end;            // file offset after the last complete frame (atomic in the mmap)
  uint32_t pid;
  uint32_t ppid;
  uint64_t start_realtime_ns;   // CLOCK_REALTIME at start; record timestamps are relative to start
  uint64_t start_monotonic_ns;  // CLOCK_MONOTONIC at start
  uint32_t flags;               // reserved, 0
  uint32_t time_shift;          // record times count ticks of 2^time_shift ns (see kTimeShift)
  uint64_t sample_bytes;        // 0: every allocation recorded; N: Poisson sampling, mean N bytes
};
static_assert(sizeof(FileHeader) == 88);

// ---------------------------------------------------------------------------------------------
// Ring chunk. The owning thread writes records after the header and publishes `used` (bytes of
// whole records) with a release store after each record, so a reader never sees half a record.
enum class ChunkState : uint32_t {
  kFree = 0,     // never used, or drained: contents already in a frame (or never written)
  kOwned = 1,    // a thread is appending to it
  kSealed = 2,   // full or its thread exited; waiting for the drain thread
};

struct ChunkHeader {
  uint32_t magic;                 // kChunkMagic once the chunk was ever owned
  std::atomic<uint32_t> state;    // ChunkState
  uint64_t seq;                   // unique, increasing per acquisition, starts at 1
  uint32_t tid;                   // kernel thread id of the writer
  std::atomic<uint32_t> used;     // bytes of complete records after the header
  uint64_t base_time;             // ticks; record times in the chunk are deltas from this
  uint64_t reserved[4];
};
static_assert(sizeof(ChunkHeader) == 64);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// ---------------------------------------------------------------------------------------------
// Compressed frame: one drained chunk. Followed by `compressed_size` bytes of zstd output that
// decompress to `raw_size` bytes of records. The frames of a thread form a stream: a frame with
// prev_seq = 0 starts one (its bytes begin a zstd frame), a frame with prev_seq = S continues the
// stream whose last frame had seq S (its bytes are the next flush of the same zstd frame, and
// decompress only after that one's). The recorder keeps a few streams open and starts a new
// one for a thread whose stream it had to close.
struct FrameHeader {
  uint32_t magic;            // kFrameMagic
  uint32_t tid;
  uint64_t seq;
  uint64_t base_time;  // ticks, as in the chunk
  uint32_t raw_size;
  uint32_t compressed_size;
  uint64_t prev_seq;         // 0: starts a stream; else the seq of the frame this one continues
  uint32_t flags;            // kFrameStreamCoded
  uint32_t header_checksum;  // frame_header_checksum() over the fields above
};
static_assert(sizeof(FrameHeader) == 48);

// The frame's payload is stream-coded (stream_coding.h): sections, kAlloc/kFree addresses coded
// against the stream's state carried from frame to frame (reset where a stream starts). Without
// it (a frame the drain could not recode) the payload is the ring chunk's records as they were.
inline constexpr uint32_t kFrameStreamCoded = 1;

// FNV-1a over the header bytes before header_checksum: cheap, and catches a torn header.
inline uint32_t frame_header_checksum(const FrameHeader& h) {
  const auto* p = reinterpret_cast<const unsigned char*>(&h);
  uint32_t x = 2166136261u;
  for (size_t i = 0; i < offsetof(FrameHeader, header_checksum); ++i) x = (x ^ p[i]) * 16777619u;
  return x;
}

// ---------------------------------------------------------------------------------------------
// Records. Each starts with a kind byte and a varint time delta (ticks since the previous record
// of the same chunk, the first one since the chunk's base_time), then the kind's fields, all
// unsigned LEB128 varints unless said otherwise. "str" is a varint length then bytes. "zz" is a
// zigzag-encoded signed varint delta.
enum class RecordKind : uint8_t {
  kAlloc = 1,         // api u8, size, address (see "Addresses" below), stack_id
  kFree = 2,          // api u8, address
  kStack = 3,         // stack_id, frame_count, frames (first absolute, then zz vs previous frame)
  kModuleLoad = 4,    // module_id, load_bias, path str, build_id str (raw bytes), segment_count,
                      //   segments: (vaddr, memsz, flags) each
  kModuleUnload = 5,  // module_id
  kProcess = 6,       // pid, ppid, exe str, argc, argv strs
  kThreadName = 7,    // tid, name str
  kRss = 8,           // rss_bytes
  kExit = 9,          // ExitKind u8, status (zz)
  kExec = 10,         // path str (the exec that is about to happen)
  kFork = 11,         // child pid (written by the parent)
  kLost = 12,         // allocations, frees not recorded since the last kLost (reentrancy, ...)
};
inline constexpr uint8_t kMaxRecordKind = 12;

// Which function an allocation or free came through.
enum class AllocApi : uint8_t {
  kMalloc = 0, kCalloc, kRealloc, kReallocArray, kPosixMemalign, kAlignedAlloc, kMemalign,
  kValloc, kPvalloc, kNew, kNewArray, kFree, kDelete, kDeleteArray, kMmap, kMunmap,
  kCount
};

enum class ExitKind : uint8_t {
  kExit = 1,        // exit() or return from main: status is the exit status
  kUnderscoreExit,  // _exit() / _Exit()
  kSignal,          // killed by a signal (status = signal number); the abort() hook writes it
};

inline constexpr uint32_t kMaxStackDepth = 256;
// An upper bound on any record's encoded size except strings; the writer reserves this much.
inline constexpr size_t kMaxVarintSize = 10;
inline constexpr size_t max_stack_record_size(size_t frames) {
  return 1 + 3 * kMaxVarintSize + frames * kMaxVarintSize;
}

// ---------------------------------------------------------------------------------------------
// Varint helpers shared by writer and reader, so the encoding is spelled in exactly one place.
inline uint8_t* put_varint(uint8_t* out, uint64_t v) {
  while (v >= 0x80) {
    *out++ = static_cast<uint8_t>(v) | 0x80;
    v >>= 7;
  }
  *out++ = static_cast<uint8_t>(v);
  return out;
}
inline uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t unzigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

// Decodes the varint at p, which has at least kMaxVarintSize readable bytes (no bounds check
// per byte), and moves p past it. False for one that does not fit in 64 bits. Shared by the
// reader's Cursor and the recorder's drain, which inlines it into its record parser.
inline bool varint_with_room(const uint8_t*& p, uint64_t& v) {
  v = p[0] & 0x7f;
  if (p[0] < 0x80) {
    p += 1;
    return true;
  }
  for (int i = 1; i < 9; ++i) {
    const uint64_t b = p[i];
    v |= (b & 0x7f) << (7 * i);
    if (b < 0x80) {
      p += i + 1;
      return true;
    }
  }
  if (p[9] > 1) return false;  // the 10th byte carries bit 63 alone
  v |= static_cast<uint64_t>(p[9]) << 63;
  p += 10;
  return true;
}

// varint_with_room with the 1- and 2-byte varints that are most of a trace's inline: the
// reader's loop over a chunk's records, which checked the room for a whole record.
inline bool short_varint_with_room(const uint8_t*& p, uint64_t& v) {
  const uint64_t b0 = p[0];
  if (b0 < 0x80) {
    ++p;
    v = b0;
    return true;
  }
  const uint64_t b1 = p[1];
  if (b1 < 0x80) {
    p += 2;
    v = (b0 & 0x7f) | b1 << 7;
    return true;
  }
  return varint_with_room(p, v);
}

// Bounds-checked decoding cursor: any read past the end or malformed varint sets `ok` to false and
// returns 0, so a reader of a torn or hostile chunk stops cleanly instead of crashing.
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;

  size_t remaining() const { return static_cast<size_t>(end - p); }
  uint8_t byte() {
    if (p >= end) return fail();
    return *p++;
  }
  // Inline for the 1- and 2-byte varints that are most of a trace's; the rest out of line.
  uint64_t varint() {
    if (static_cast<size_t>(end - p) >= 2) {
      const uint64_t b0 = p[0];
      if (b0 < 0x80) {
        ++p;
        return b0;
      }
      const uint64_t b1 = p[1];
      if (b1 < 0x80) {
        p += 2;
        return (b0 & 0x7f) | b1 << 7;
      }
    }
    return long_varint();
  }
  // varint() where the caller made sure kMaxVarintSize bytes are left (a decoder that checked
  // the room for a whole record): no bounds check.
  uint64_t varint_in_room() {
    uint64_t v;
    return short_varint_with_room(p, v) ? v : fail();
  }
  [[gnu::noinline]] uint64_t long_varint() {
    // Where a whole varint's room is left (all but a section's last bytes), no bounds check
    // per byte.
    if (static_cast<size_t>(end - p) >= kMaxVarintSize) {
      uint64_t v;
      return varint_with_room(p, v) ? v : fail();
    }
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) return fail();
      const uint8_t b = *p++;
      // The 10th byte carries bit 63 alone: a larger value does not fit in 64 bits.
      if (shift == 63 && b > 1) return fail();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return fail();
  }
  std::string_view str(size_t max_len = 1 << 20) {
    const uint64_t n = varint();
    if (!ok || n > remaining() || n > max_len) {
      fail();
      return {};
    }
    std::string_view s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
  uint8_t fail() {
    ok = false;
    p = end;
    return 0;
  }
};

// ---------------------------------------------------------------------------------------------
// Addresses. In a ring chunk (what threads write): zz delta against the previous kAlloc/kFree
// address of the chunk (0 before the first). In a stream-coded frame (stream_coding.h): a code that
// refers back into the stream's history of addresses. Programs free and reuse the addresses they
// touched last (glibc's tcache returns the block freed last), so "the address coded d addresses
// ago" is a small number that repeats with the program's own patterns, which zstd then all but
// removes. Code d in 1..kWindow: the address coded d addresses earlier in this stream. Code 0: a
// new address, followed by its zz delta against the previous new one. Measured offline against a
// move-to-front list of 64 (bytes per allocation after zstd): sqlite3 0.114 -> 0.081, a random
// churn 7.3 -> 5.9, and both sides cost O(1) per address instead of a 64-entry search.
class AddressHistory {
 public:
  static constexpr uint32_t kWindow = 4096;

  void reset() {
    count_ = 0;
    last_new_ = 0;
  }
  // False (and `c` failed) on a code that names no address.
  bool decode(Cursor& c, uint64_t& address) {
    const auto next = [&c](uint64_t& v) {
      v = c.varint();
      return c.ok;
    };
    if (decode_with(next, address)) return true;
    c.fail();
    return false;
  }
  // The same from `p`, which has room for two varints (no bounds check), moved past the code;
  // false on a code that names no address.
  bool decode_in_room(const uint8_t*& p, uint64_t& address) {
    return decode_with([&p](uint64_t& v) { return short_varint_with_room(p, v); }, address);
  }
  // An address that took a position without an address code (a free named by ordinal).
  void remember(uint64_t address) { ring_[count_++ % kWindow] = address; }

 private:
  template <typename NextVarint>  // bool(uint64_t&): the code's next varint, false if none
  bool decode_with(NextVarint next, uint64_t& address) {
    uint64_t code;
    if (!next(code)) return false;
    if (code == 0) {
      uint64_t delta;
      if (!next(delta)) return false;
      address = last_new_ + static_cast<uint64_t>(unzigzag(delta));
      last_new_ = address;
    } else {
      if (code > kWindow || code > count_) return false;
      address = ring_[(count_ - code) % kWindow];
    }
    remember(address);
    return true;
  }

  uint64_t ring_[kWindow] = {};  // the last kWindow addresses, by position
  uint64_t count_ = 0;           // addresses coded so far in the stream
  uint64_t last_new_ = 0;
};

// The writer's side: finds an address's last position through a hash table (a slot per
// address, the newest wins: a collision only costs a longer code).
class AddressHistoryEncoder {
 public:
  void reset() {
    count_ = 0;
    last_new_ = 0;
    std::memset(slots_, 0, sizeof slots_);
  }
  uint8_t* encode(uint8_t* out, uint64_t address) {
    return encode(out, address, static_cast<uint32_t>(slot_index(address)));
  }
  // The address's slot, fetched toward the cache for a later encode/remember.
  uint32_t locate(uint64_t address) const {
    const auto slot = static_cast<uint32_t>(slot_index(address));
    __builtin_prefetch(&slots_[slot], 1);
    return slot;
  }
  // With the address's slot (locate) already known.
  uint8_t* encode(uint8_t* out, uint64_t address, uint32_t slot_number) {
    Slot& slot = slots_[slot_number];
    const uint64_t distance = count_ + 1 - slot.position_plus_one;
    if (slot.position_plus_one && slot.address == address && distance <= AddressHistory::kWindow) {
      out = put_varint(out, distance);
    } else {
      *out++ = 0;
      out = put_varint(out, zigzag(static_cast<int64_t>(address - last_new_)));
      last_new_ = address;
    }
    slot = {address, ++count_};
    return out;
  }
  // The encoder's side of AddressHistory::remember.
  void remember(uint64_t address) { remember(address, static_cast<uint32_t>(slot_index(address))); }
  void remember(uint64_t address, uint32_t slot_number) { slots_[slot_number] = {address, ++count_}; }

 private:
  static constexpr int kSlotBits = 13;  // twice the window
  static size_t slot_index(uint64_t address) {
    return ((address >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - kSlotBits);
  }
  struct Slot {
    uint64_t address;
    uint64_t position_plus_one;  // 0: empty
  };
  Slot slots_[1u << kSlotBits] = {};
  uint64_t count_ = 0;
  uint64_t last_new_ = 0;
};

// Steps `c` over the fields of a record of `kind` (after its kind byte and time delta), checking
// only what is needed to find the next record. For the drain, which recodes kAlloc/kFree and
// copies everything else; the analyzer's decoder reads the same fields one by one.
inline void skip_record_fields(Cursor& c, RecordKind kind) {
  auto skip_varints = [&c](uint64_t n) {
    for (uint64_t i = 0; i < n && c.ok; ++i) c.varint();
  };
  switch (kind) {
    case RecordKind::kAlloc: c.byte(); skip_varints(3); return;
    case RecordKind::kFree: c.byte(); skip_varints(1); return;
    case RecordKind::kStack: {
      c.varint();
      const uint64_t n = c.varint();
      if (n > kMaxStackDepth) c.fail();
      skip_varints(n);
      return;
    }
    case RecordKind::kModuleLoad: {
      skip_varints(2);
      c.str(4096);
      c.str(256);
      const uint64_t n = c.varint();
      if (n > 64) c.fail();
      skip_varints(3 * n);
      return;
    }
    case RecordKind::kProcess: {
      skip_varints(2);
      c.str(4096);
      const uint64_t argc = c.varint();
      if (argc > c.remaining()) c.fail();
      for (uint64_t i = 0; i < argc && c.ok; ++i) c.str();
      return;
    }
    case RecordKind::kThreadName: c.varint(); c.str(64); return;
    case RecordKind::kExit: c.byte(); c.varint(); return;
    case RecordKind::kExec: c.str(4096); return;
    case RecordKind::kModuleUnload:
    case RecordKind::kRss:
    case RecordKind::kFork: c.varint(); return;
    case RecordKind::kLost: skip_varints(2); return;
  }
  c.fail();
}

inline bool header_is_valid(const FileHeader& h) {
  return std::memcmp(h.magic, kFileMagic, sizeof kFileMagic) == 0;
}

}  // namespace heapline::format
