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
  bool advance();
  uint64_t time_ns() const { return ticks_ << time_shift_; }
  format::RecordKind kind() const { return kind_; }
  // Hands the current record to the visitor (any visitor type: direct calls for a final one).
  template <typename Visitor>
  void deliver(Visitor& visitor) const;

 private:
  [[noreturn]] void corrupt(const char* what) const;
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
