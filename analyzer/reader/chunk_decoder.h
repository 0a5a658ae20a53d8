// Decodes the records of one chunk (a drained frame or a chunk still in the ring), one at a
// time, so the reader can merge chunks of different threads by timestamp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "heapline/stream_coding.h"
#include "heapline/trace_format.h"
#include "records.h"

namespace heapline::analysis {

// What a thread's stream-coded frames refer back to, carried from frame to frame of the stream.
struct StreamState {
  format::AddressHistory history;
  std::unique_ptr<uint64_t[]> ordinal_storage{new uint64_t[format::kOrdinalWindow]};
  format::BlockOrdinals ordinals{ordinal_storage.get()};
  void reset() {
    history.reset();
    ordinals.reset();
  }
};

class ChunkDecoder {
 public:
  // `data` must outlive the decoder. `lenient`: the chunk may end in a torn record (a file cut
  // short): stop quietly there instead of reporting corruption. `file_offset`: where `data` is
  // in the file; for a decompressed frame (`in_frame`) the offset of its FrameHeader instead,
  // since positions inside decompressed bytes are not file offsets.
  // `stream`: the frame's stream's state (a kFrameStreamCoded frame), or null for records as a
  // ring chunk has them; it must outlive the decoder. Throws TraceError if the frame's section
  // lengths do not fit it.
  ChunkDecoder(const uint8_t* data, size_t size, uint64_t base_time, uint32_t time_shift,
               uint32_t tid, uint64_t file_offset, bool in_frame, bool lenient,
               const std::string* path, StreamState* stream = nullptr);

  // Decodes the next record. False at the end of the chunk. Throws TraceError on corruption.
  bool advance() {
    if (stream_) {
      const int fast = advance_fast();
      if (fast >= 0) return fast;
    }
    return advance_any();
  }
  uint64_t time_ns() const { return ticks_ << time_shift_; }
  format::RecordKind kind() const { return kind_; }
  // Hands the current record to the visitor (any visitor type: direct calls for a final one).
  template <typename Visitor>
  void deliver(Visitor& visitor) const;
  // Delivers the current record and every record after it that comes before `end_ns`: the
  // reader's inner loop over a run of one chunk (nearly every record of a trace goes through
  // it). True when the next record is decoded, not delivered, and comes at or after `end_ns`;
  // false at the chunk's end. The same records and calls as deliver() then advance() in a loop.
  template <typename Visitor>
  bool deliver_run(Visitor& visitor, uint64_t end_ns);

 private:
  // An allocation or free of a stream-coded frame (nearly every record of a trace) with every
  // section far enough from its end that no field needs a bounds check: 1 (decoded), 0 (the
  // chunk ends here: a lenient chunk's torn record), -1 (anything else: advance_any decodes it,
  // as if this had not been called). Inline in the reader's merge loop.
  [[gnu::always_inline]] int advance_fast();
  // Any record, with every check.
  bool advance_any();
  // Delivers the allocations and frees of a stream-coded frame that come before `end_ns` and
  // need no bounds check, straight from the bytes to the visitor. Returns at the first record
  // it leaves to advance(), undecoded; -1 when it found a torn record (the chunk ends).
  template <typename Visitor>
  [[gnu::always_inline]] int deliver_fast(Visitor& visitor, uint64_t end_ns);
  [[noreturn]] void corrupt(const char* what) const;
  // A field of the current allocation or free does not decode (after stream state changed).
  bool torn_record();
  uint64_t alloc_address(format::Cursor& c);
  uint64_t free_address(format::Cursor& c);

  format::Cursor cursor_;
  const uint8_t* begin_;
  uint64_t file_offset_;
  bool in_frame_;
  bool lenient_;
  const std::string* path_;
  uint32_t tid_;
  uint64_t ticks_;
  uint32_t time_shift_;
  uint64_t last_address_ = 0;
  StreamState* stream_;
  format::Cursor sizes_{}, addresses_{};  // a stream-coded frame's other sections
  format::RecordKind kind_{};

  // The current record's fields (reused between records to avoid allocation).
  uint64_t u_[6] = {};
  int64_t status_ = 0;
  std::string_view s1_, s2_;
  std::vector<uint64_t> frames_;
  std::vector<Segment> segments_;
  std::vector<std::string_view> argv_;
};

inline int ChunkDecoder::advance_fast() {
  // The longest allocation or free: kind, time delta, api, then a stack id (allocation), or a
  // free code and an address code of up to two varints (free).
  constexpr size_t kRecordRoom = 3 + 3 * format::kMaxVarintSize;
  format::Cursor c = cursor_;
  if (c.remaining() < kRecordRoom) return -1;
  const uint8_t kind = c.p[0];
  if (kind == static_cast<uint8_t>(format::RecordKind::kAlloc)) {
    // Its size and address code are in the other sections (a free's are not: a frame's frees
    // may go on long after its last allocation, at a program's teardown).
    if (sizes_.remaining() < format::kMaxVarintSize ||
        addresses_.remaining() < 2 * format::kMaxVarintSize)
      return -1;
  } else if (kind != static_cast<uint8_t>(format::RecordKind::kFree)) {
    return -1;
  }
  ++c.p;
  const uint64_t delta = c.varint();
  const uint8_t api = *c.p++;
  if (!c.ok || api >= static_cast<uint8_t>(format::AllocApi::kCount)) return -1;
  // Nothing has changed yet; from here on a field that does not decode ends the chunk as
  // advance_any would, since the stream's state has moved.
  if (kind == static_cast<uint8_t>(format::RecordKind::kAlloc)) {
    u_[1] = sizes_.varint();
    uint64_t address = 0;
    if (stream_->history.decode(addresses_, address)) stream_->ordinals.on_alloc(address);
    u_[2] = address;
    u_[3] = c.varint();
    if (!c.ok || !sizes_.ok || !addresses_.ok) return torn_record();
    kind_ = format::RecordKind::kAlloc;
  } else {
    const uint64_t code = c.varint();
    uint64_t address = 0;
    if (code == format::kFreeByAddress) {
      stream_->history.decode(c, address);
    } else if (c.ok && stream_->ordinals.decode_free(code, address)) {
      stream_->history.remember(address);
    } else {
      c.fail();
    }
    if (!c.ok) return torn_record();
    u_[2] = address;
    kind_ = format::RecordKind::kFree;
  }
  u_[0] = api;
  cursor_ = c;
  ticks_ += delta;
  return 1;
}

template <typename Visitor>
inline int ChunkDecoder::deliver_fast(Visitor& v, uint64_t end_ns) {
  // advance_fast() and deliver() in one, with the decoder's positions in locals: the visitor's
  // stores (into a batch) could alias the members, so the compiler reloaded them every record,
  // and the fields went through u_ and a switch on the kind. Plain pointers, not Cursors: copies
  // of a Cursor (two pointers and a flag) went through the stack, and reading the flag back
  // from a wider store stalled (store forwarding); those few instructions had 3/4 of the reader
  // thread's samples on containers (perf annotate).
  constexpr size_t kRecordRoom = 3 + 3 * format::kMaxVarintSize;
  const uint8_t* p = cursor_.p;
  const uint8_t* const end = cursor_.end;
  const uint8_t* sizes = sizes_.p;
  const uint8_t* const sizes_end = sizes_.end;
  const uint8_t* addresses = addresses_.p;
  const uint8_t* const addresses_end = addresses_.end;
  uint64_t ticks = ticks_;
  StreamState& stream = *stream_;
  const uint32_t shift = time_shift_, tid = tid_;
  int result = 0;
  while (static_cast<size_t>(end - p) >= kRecordRoom) {
    const uint8_t kind = p[0];
    if (kind == static_cast<uint8_t>(format::RecordKind::kAlloc)) {
      if (static_cast<size_t>(sizes_end - sizes) < format::kMaxVarintSize ||
          static_cast<size_t>(addresses_end - addresses) < 2 * format::kMaxVarintSize)
        break;
    } else if (kind != static_cast<uint8_t>(format::RecordKind::kFree)) {
      break;
    }
    // The room checked above holds every varint of the record's own section read below (but
    // an address code after a free code: that one is bounds-checked).
    const uint8_t* r = p + 1;
    uint64_t delta;
    if (!format::short_varint_with_room(r, delta)) break;
    const uint8_t api = *r++;
    if (api >= static_cast<uint8_t>(format::AllocApi::kCount)) break;
    const uint64_t time_ns = (ticks + delta) << shift;
    if (time_ns >= end_ns) break;  // not this run's: advance() decodes it
    // From here a field that does not decode ends the chunk, as in advance_fast.
    if (kind == static_cast<uint8_t>(format::RecordKind::kAlloc)) {
      uint64_t size, stack_id, address = 0;
      const bool size_ok = format::short_varint_with_room(sizes, size);
      const bool address_ok = stream.history.decode_in_room(addresses, address);
      if (address_ok) stream.ordinals.on_alloc(address);
      if (!size_ok || !address_ok || !format::short_varint_with_room(r, stack_id)) {
        result = -1;
        break;
      }
      v.on_alloc({time_ns, tid, static_cast<format::AllocApi>(api), size, address,
                  static_cast<uint32_t>(stack_id)});
    } else {
      uint64_t code, address = 0;
      bool ok = format::short_varint_with_room(r, code);
      if (ok && code == format::kFreeByAddress) {
        format::Cursor c{r, end};
        stream.history.decode(c, address);
        ok = c.ok;
        r = c.p;
      } else if (ok && stream.ordinals.decode_free(code, address)) {
        stream.history.remember(address);
      } else {
        ok = false;
      }
      if (!ok) {
        result = -1;
        break;
      }
      v.on_free({time_ns, tid, static_cast<format::AllocApi>(api), address});
    }
    p = r;
    ticks += delta;
  }
  cursor_.p = p;
  sizes_.p = sizes;
  addresses_.p = addresses;
  ticks_ = ticks;
  return result;
}

template <typename Visitor>
inline bool ChunkDecoder::deliver_run(Visitor& v, uint64_t end_ns) {
  for (;;) {
    deliver(v);
    if (stream_ && deliver_fast(v, end_ns) < 0) return torn_record();
    if (!advance()) return false;
    if (time_ns() >= end_ns) return true;
  }
}

template <typename Visitor>
inline void ChunkDecoder::deliver(Visitor& v) const {
  const uint64_t time_ns_ = time_ns();
  const auto api = static_cast<format::AllocApi>(u_[0]);
  switch (kind_) {
    case format::RecordKind::kAlloc:
      v.on_alloc({time_ns_, tid_, api, u_[1], u_[2], static_cast<uint32_t>(u_[3])});
      break;
    case format::RecordKind::kFree:
      v.on_free({time_ns_, tid_, api, u_[2]});
      break;
    case format::RecordKind::kStack:
      v.on_stack({time_ns_, tid_, static_cast<uint32_t>(u_[0]), frames_});
      break;
    case format::RecordKind::kModuleLoad:
      v.on_module_load({time_ns_, static_cast<uint32_t>(u_[0]), u_[1], s1_, s2_, segments_});
      break;
    case format::RecordKind::kModuleUnload:
      v.on_module_unload({time_ns_, static_cast<uint32_t>(u_[0])});
      break;
    case format::RecordKind::kProcess:
      v.on_process({time_ns_, static_cast<uint32_t>(u_[0]), static_cast<uint32_t>(u_[1]), s1_, argv_});
      break;
    case format::RecordKind::kThreadName:
      v.on_thread_name({time_ns_, static_cast<uint32_t>(u_[0]), s1_});
      break;
    case format::RecordKind::kRss:
      v.on_rss({time_ns_, u_[0]});
      break;
    case format::RecordKind::kExit:
      v.on_exit({time_ns_, tid_, static_cast<format::ExitKind>(u_[0]), status_});
      break;
    case format::RecordKind::kLost:
      v.on_lost({time_ns_, u_[0], u_[1]});
      break;
    case format::RecordKind::kExec:
      v.on_exec({time_ns_, tid_, s1_});
      break;
    case format::RecordKind::kFork:
      break;
  }
}

}  // namespace heapline::analysis
