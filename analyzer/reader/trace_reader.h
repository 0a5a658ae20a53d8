// Opens a trace, checks it, and replays its records in time order.
//
// Reading is streaming: chunks are decoded one at a time and merged with a heap keyed by the
// next record's timestamp, so memory is bounded by the chunks that overlap in time (about one per
// live thread), not by the length of the trace. Any malformed input raises TraceError (file and
// byte offset); a file cut short is read up to its last whole record and flagged `truncated`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heapline/trace_format.h"
#include "records.h"

namespace heapline::analysis {

struct TraceInfo {
  std::string path;
  format::FileHeader header{};
  uint64_t file_size = 0;
  uint64_t disk_bytes = 0;       // blocks the file really occupies (the ring is sparse)
  size_t frames = 0;             // drained, compressed chunks
  size_t ring_chunks = 0;        // chunks read from the ring (not yet drained when it ended)
  uint64_t compressed_bytes = 0;
  uint64_t raw_bytes = 0;        // record bytes before compression, all chunks
  bool truncated = false;        // the file ends before data it once held
  std::vector<std::string> notes;
};

class TraceReader {
 public:
  // Throws TraceError when the file cannot be read or is not a heapline trace of this version.
  explicit TraceReader(const std::string& path);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  const TraceInfo& info() const { return info_; }
  // Replays every record in time order. Throws TraceError on corrupt data.
  void read(RecordVisitor& visitor);
  // The same for any visitor type, direct calls for a final one (trace_reader_records.h).
  template <typename Visitor>
  void read_records(Visitor& visitor);

 private:
  struct Source {
    uint64_t seq;
    uint64_t base_time;  // ticks
    uint32_t tid;
    uint64_t offset;       // of the records (ring) or of the compressed bytes (frame)
    uint32_t stored_size;
    uint32_t raw_size;
    bool compressed;
    bool lenient;
    uint64_t prev_seq = 0;          // frames: the frame of the same stream before this one
    uint32_t flags = 0;             // frames: FrameHeader::flags
    bool last_in_stream = false;    // frames: no later frame continues this one's stream
  };
  void index_frames(int fd);
  void mark_stream_ends();
  void index_ring(int fd);  // fd: the trace, for reading headers without touching the mapping
  // Drops the mapped pages of [begin, end) from this process (they stay in the page cache).
  void release_pages(uint64_t begin, uint64_t end) const;

  TraceInfo info_;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  std::vector<Source> sources_;
};

}  // namespace heapline::analysis
