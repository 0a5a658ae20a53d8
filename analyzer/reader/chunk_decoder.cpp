#include "chunk_decoder.h"

#include "trace_error.h"

namespace heapline::analysis {

using format::RecordKind;

ChunkDecoder::ChunkDecoder(const uint8_t* data, size_t size, uint64_t base_time,
                           uint32_t time_shift, uint32_t tid, uint64_t file_offset,
                           bool in_frame, bool lenient, const std::string* path,
                           StreamState* stream)
    : cursor_{data, data + size},
      begin_(data),
      file_offset_(file_offset),
      in_frame_(in_frame),
      lenient_(lenient),
      path_(path),
      tid_(tid),
      ticks_(base_time),
      time_shift_(time_shift),
      stream_(stream) {
  if (!stream_) return;
  format::FrameSections sections;
  if (!sections.parse(data, size)) corrupt("section lengths beyond the frame");
  cursor_ = sections.records;
  sizes_ = sections.sizes;
  addresses_ = sections.addresses;
}

uint64_t ChunkDecoder::alloc_address(format::Cursor& c) {
  uint64_t a = 0;
  if (stream_) {
    if (stream_->history.decode(addresses_, a)) stream_->ordinals.on_alloc(a);
    return a;
  }
  a = last_address_ + static_cast<uint64_t>(format::unzigzag(c.varint()));
  if (c.ok) last_address_ = a;
  return a;
}

uint64_t ChunkDecoder::free_address(format::Cursor& c) {
  if (!stream_) return alloc_address(c);
  uint64_t a = 0;
  const uint64_t code = c.varint();
  if (!c.ok) return 0;
  if (code == format::kFreeByAddress) {
    stream_->history.decode(c, a);
  } else if (stream_->ordinals.decode_free(code, a)) {
    stream_->history.remember(a);
  } else {
    c.fail();
  }
  return a;
}

void ChunkDecoder::corrupt(const char* what) const {
  const auto position = static_cast<uint64_t>(cursor_.p - begin_);
  if (in_frame_)
    throw TraceError(*path_, file_offset_,
                     "corrupt record at byte " + std::to_string(position) +
                         " of the decompressed frame: " + what);
  throw TraceError(*path_, file_offset_ + position, std::string("corrupt record: ") + what);
}

bool ChunkDecoder::torn_record() {
  if (lenient_) return false;
  corrupt("record runs past the end of its chunk");
}

bool ChunkDecoder::advance_any() {
  if (cursor_.remaining() == 0) {
    if (sizes_.remaining() || addresses_.remaining()) corrupt("sections longer than their records");
    return false;
  }
  format::Cursor c = cursor_;
  const uint8_t kind = c.byte();
  const uint64_t delta = c.varint();
  if (kind == 0 || kind > format::kMaxRecordKind) {
    if (lenient_) return false;
    corrupt("unknown record kind");
  }
  kind_ = static_cast<RecordKind>(kind);
  switch (kind_) {
    case RecordKind::kAlloc:
      u_[0] = c.byte();                                          // api
      u_[1] = stream_ ? sizes_.varint() : c.varint();            // size
      u_[2] = alloc_address(c);
      u_[3] = c.varint();                                        // stack id
      if (!sizes_.ok || !addresses_.ok) c.fail();
      break;
    case RecordKind::kFree:
      u_[0] = c.byte();
      u_[2] = free_address(c);
      break;
    case RecordKind::kStack: {
      u_[0] = c.varint();
      const uint64_t n = c.varint();
      if (n > format::kMaxStackDepth) c.fail();
      frames_.clear();
      uint64_t previous = 0;
      for (uint64_t i = 0; i < n && c.ok; ++i) {
        const uint64_t v = c.varint();
        previous = i == 0 ? v : previous + static_cast<uint64_t>(format::unzigzag(v));
        frames_.push_back(previous);
      }
      break;
    }
    case RecordKind::kModuleLoad: {
      u_[0] = c.varint();
      u_[1] = c.varint();
      s1_ = c.str(4096);
      s2_ = c.str(256);
      const uint64_t n = c.varint();
      if (n > 64) c.fail();
      segments_.clear();
      for (uint64_t i = 0; i < n && c.ok; ++i) {
        Segment s{};
        s.vaddr = c.varint();
        s.memsz = c.varint();
        s.flags = static_cast<uint32_t>(c.varint());
        segments_.push_back(s);
      }
      break;
    }
    case RecordKind::kModuleUnload:
      u_[0] = c.varint();
      break;
    case RecordKind::kProcess: {
      u_[0] = c.varint();
      u_[1] = c.varint();
      s1_ = c.str(4096);
      const uint64_t argc = c.varint();
      if (argc > c.remaining()) c.fail();
      argv_.clear();
      for (uint64_t i = 0; i < argc && c.ok; ++i) argv_.push_back(c.str());
      break;
    }
    case RecordKind::kThreadName:
      u_[0] = c.varint();
      s1_ = c.str(64);
      break;
    case RecordKind::kRss:
      u_[0] = c.varint();
      break;
    case RecordKind::kExit:
      u_[0] = c.byte();
      status_ = format::unzigzag(c.varint());
      break;
    case RecordKind::kExec:
      s1_ = c.str(4096);
      break;
    case RecordKind::kFork:
      u_[0] = c.varint();
      break;
    case RecordKind::kLost:
      u_[0] = c.varint();
      u_[1] = c.varint();
      break;
  }
  if (!c.ok) {
    if (lenient_) return false;
    corrupt("record runs past the end of its chunk");
  }
  if ((kind_ == RecordKind::kAlloc || kind_ == RecordKind::kFree) &&
      u_[0] >= static_cast<uint64_t>(format::AllocApi::kCount)) {
    if (lenient_) return false;
    corrupt("unknown allocation function");
  }
  cursor_ = c;
  ticks_ += delta;
  return true;
}

}  // namespace heapline::analysis
