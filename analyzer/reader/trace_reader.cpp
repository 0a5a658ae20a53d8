#include "trace_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "chunk_decoder.h"
#include "trace_error.h"

namespace heapline::analysis {

using format::ChunkHeader;
using format::FileHeader;
using format::FrameHeader;

TraceReader::TraceReader(const std::string& path) {
  info_.path = path;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw TraceError(path, 0, std::string("cannot open: ") + strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    throw TraceError(path, 0, "not a regular file");
  }
  info_.file_size = static_cast<uint64_t>(st.st_size);
  info_.disk_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  if (info_.file_size < sizeof(FileHeader)) {
    close(fd);
    throw TraceError(path, info_.file_size,
                     "file too short for a heapline trace header (" +
                         std::to_string(info_.file_size) + " bytes)");
  }
  void* map = mmap(nullptr, info_.file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) {
    close(fd);
    throw TraceError(path, 0, std::string("cannot map: ") + strerror(errno));
  }
  map_ = static_cast<const uint8_t*>(map);
  map_size_ = info_.file_size;
  try {
    std::memcpy(&info_.header, map_, sizeof(FileHeader));
    const FileHeader& h = info_.header;
    if (!format::header_is_valid(h)) throw TraceError(path, 0, "not a heapline trace (bad magic)");
    if (h.version != format::kVersion)
      throw TraceError(path, offsetof(FileHeader, version),
                       "unsupported trace format version " + std::to_string(h.version) +
                           " (this heapline reads version " + std::to_string(format::kVersion) + ")");
    if (h.header_size != format::kFileHeaderSize || h.ring_offset != format::kFileHeaderSize ||
        h.chunk_size < 4096 || h.chunk_size > (64u << 20) ||
        h.chunk_size % alignof(ChunkHeader) != 0 ||  // recorder: KiB multiples; keeps headers aligned
        h.chunk_count == 0 ||
        h.chunk_count > (1u << 20) || h.time_shift > 30 ||
        h.data_offset != h.ring_offset + static_cast<uint64_t>(h.chunk_size) * h.chunk_count)
      throw TraceError(path, offsetof(FileHeader, header_size), "inconsistent file header");
    index_frames(fd);
    mark_stream_ends();
    index_ring(fd);
  } catch (...) {
    close(fd);
    munmap(const_cast<uint8_t*>(map_), map_size_);
    throw;
  }
  close(fd);
  std::sort(sources_.begin(), sources_.end(), [](const Source& a, const Source& b) {
    return a.base_time != b.base_time ? a.base_time < b.base_time : a.seq < b.seq;
  });
}

void TraceReader::release_pages(uint64_t begin, uint64_t end) const {
  // From the page holding `begin` (shared with the previous frame, read before this one in the
  // usual file order) up to the page holding `end` (shared with the next frame, kept). Frames
  // read out of file order only make a page fault in again, from the page cache: cheap.
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t first = begin / page * page;
  const uint64_t last = std::min<uint64_t>(end, map_size_) / page * page;
  if (first < last)
    madvise(const_cast<uint8_t*>(map_) + first, last - first, MADV_DONTNEED);
}

TraceReader::~TraceReader() {
  if (map_) munmap(const_cast<uint8_t*>(map_), map_size_);
}

void TraceReader::index_frames(int fd) {
  const FileHeader& h = info_.header;
  if (info_.file_size < h.data_offset) {
    info_.truncated = true;  // cut inside the ring: whatever was drained is gone
    info_.notes.push_back("file ends inside the ring (cut short)");
    return;
  }
  // Not clamped to the file size: a file that ends before the published end lost frames (cut
  // short), even when it happens to end exactly between two of them.
  const uint64_t published_end = h.data_end;
  uint64_t offset = h.data_offset;
  while (offset + sizeof(FrameHeader) <= info_.file_size) {
    // pread, not the mapping: touching one header per frame through the mapping would fault
    // in (with the kernel's fault-around) nearly the whole file, and a reader's memory must
    // not grow with the length of the trace.
    FrameHeader f;
    if (pread(fd, &f, sizeof f, static_cast<off_t>(offset)) != static_cast<ssize_t>(sizeof f))
      throw TraceError(info_.path, offset, std::string("cannot read: ") + strerror(errno));
    const bool header_ok = f.magic == format::kFrameMagic &&
                           f.header_checksum == format::frame_header_checksum(f) &&
                           f.raw_size <= format::kMaxRecodeGrowth * uint64_t{h.chunk_size} &&
                           f.compressed_size > 0;
    const bool body_present = offset + sizeof f + f.compressed_size <= info_.file_size;
    if (!header_ok || !body_present) {
      if (offset < published_end) {
        if (header_ok && !body_present) {
          info_.truncated = true;
          info_.notes.push_back("file cut short inside a compressed frame");
          return;
        }
        throw TraceError(info_.path, offset, "corrupt compressed frame header");
      }
      // Past the published end: a frame the drain did not finish before the process died. Its
      // chunk is still in the ring, so nothing is lost.
      if (offset < info_.file_size) info_.notes.push_back("ignored an unfinished frame at the end");
      return;
    }
    if (f.prev_seq >= f.seq || (f.flags & ~format::kFrameStreamCoded) ||
        (!(f.flags & format::kFrameStreamCoded) && f.raw_size > h.chunk_size))
      throw TraceError(info_.path, offset, "corrupt compressed frame header");
    sources_.push_back({f.seq, f.base_time, f.tid, offset + sizeof f, f.compressed_size,
                        f.raw_size, true, false, f.prev_seq, f.flags, false});
    ++info_.frames;
    info_.compressed_bytes += sizeof f + f.compressed_size;
    info_.raw_bytes += f.raw_size;
    offset += sizeof f + f.compressed_size;
  }
  if (offset < published_end) {
    info_.truncated = true;
    info_.notes.push_back("file cut short inside a compressed frame");
  } else if (offset < info_.file_size) {
    info_.notes.push_back("ignored an unfinished frame at the end");  // not even its header
  }
}

void TraceReader::mark_stream_ends() {
  // A stream's decompressor (about 1 MiB) is kept only until its last frame is read.
  std::unordered_set<uint64_t> continued;
  for (const Source& s : sources_)
    if (s.prev_seq) continued.insert(s.prev_seq);
  for (Source& s : sources_) s.last_in_stream = !continued.count(s.seq);
}

void TraceReader::index_ring(int fd) {
  const FileHeader& h = info_.header;
  std::unordered_set<uint64_t> drained;
  for (const Source& s : sources_) drained.insert(s.seq);
  for (uint32_t i = 0; i < h.chunk_count; ++i) {
    const uint64_t offset = h.ring_offset + static_cast<uint64_t>(i) * h.chunk_size;
    if (offset + sizeof(ChunkHeader) > info_.file_size) break;
    // The header is read with pread, not through the mapping: a chunk the recorder never used is
    // a hole in the sparse file, and on a full tmpfs touching a hole through a mapping allocates
    // a page and fails with SIGBUS (a trace left by a target whose disk filled up). pread of a
    // hole just returns zeros. Chunks with a valid magic were fallocate'd, so their records are
    // safe to read through the mapping later.
    ChunkHeader header_copy;
    if (pread(fd, &header_copy, sizeof header_copy, static_cast<off_t>(offset)) !=
        static_cast<ssize_t>(sizeof header_copy))
      break;
    const ChunkHeader* c = &header_copy;
    if (c->magic != format::kChunkMagic) continue;  // never used
    const uint32_t state = c->state.load(std::memory_order_relaxed);
    if (state == static_cast<uint32_t>(format::ChunkState::kFree)) continue;
    if (state > static_cast<uint32_t>(format::ChunkState::kSealed))
      throw TraceError(info_.path, offset + offsetof(ChunkHeader, state), "corrupt chunk state");
    if (drained.count(c->seq)) continue;
    uint64_t used = c->used.load(std::memory_order_relaxed);
    if (used > h.chunk_size - sizeof(ChunkHeader))
      throw TraceError(info_.path, offset + offsetof(ChunkHeader, used), "corrupt chunk length");
    bool lenient = false;
    const uint64_t available = info_.file_size - offset - sizeof(ChunkHeader);
    if (used > available) {
      used = available;
      lenient = true;
      info_.truncated = true;
    }
    if (used == 0) continue;
    sources_.push_back({c->seq, c->base_time, c->tid, offset + sizeof(ChunkHeader),
                        static_cast<uint32_t>(used), static_cast<uint32_t>(used), false, lenient});
    ++info_.ring_chunks;
    info_.raw_bytes += used;
  }
}

namespace {

// One chunk being merged: its decoder and, for a compressed frame, the decompressed bytes.
struct OpenChunk {
  std::vector<uint8_t> buffer;
  std::unique_ptr<ChunkDecoder> decoder;
  uint64_t seq;
  uint32_t tid;
  bool ends_stream;
};

// A thread's compression stream (see FrameHeader): its frames decompress in order through one
// zstd context, and their records through one StreamState.
struct Stream {
  ZSTD_DCtx* dctx = nullptr;
  uint64_t last_seq = 0;
  StreamState coding;
  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() { ZSTD_freeDCtx(dctx); }
};

// Records of different chunks at the same time: frees first, so an address freed by one
// thread and returned by malloc to another is never seen live twice. (The chunks being merged
// always belong to different threads: see read().)
int tie_rank(format::RecordKind k) { return k == format::RecordKind::kFree ? 0 : 1; }

struct Later {
  bool operator()(const OpenChunk* a, const OpenChunk* b) const {
    const uint64_t ta = a->decoder->time_ns(), tb = b->decoder->time_ns();
    if (ta != tb) return ta > tb;
    const int ra = tie_rank(a->decoder->kind()), rb = tie_rank(b->decoder->kind());
    if (ra != rb) return ra > rb;
    return a->seq > b->seq;
  }
};

}  // namespace

void TraceReader::read(RecordVisitor& visitor) {
  std::vector<std::unique_ptr<OpenChunk>> storage;
  std::priority_queue<OpenChunk*, std::vector<OpenChunk*>, Later> heap;
  std::vector<std::unique_ptr<OpenChunk>> free_list;
  size_t next = 0;
  // A thread's chunks are consecutive stretches of its program order (it takes a new chunk only
  // after sealing its last), so at most one chunk per thread is merged at a time and the next one
  // waits for it to run out. Merging two chunks of one thread by time would let the tie rule put
  // "free(X)" at the start of the newer chunk before "realloc returned X" at the end of the
  // older one when both fall in the same tick, leaving X live twice.
  std::unordered_map<uint32_t, std::deque<size_t>> waiting;  // tid -> indices into sources_
  std::unordered_set<uint32_t> merging;                      // tids with a chunk in the heap
  std::unordered_map<uint32_t, Stream> streams;              // tid -> its open stream

  // Returns whether the chunk has records (and is now in the heap).
  auto open_source = [&](const Source& s) -> bool {
    std::unique_ptr<OpenChunk> chunk;
    if (!free_list.empty()) {
      chunk = std::move(free_list.back());
      free_list.pop_back();
    } else {
      chunk = std::make_unique<OpenChunk>();
    }
    chunk->seq = s.seq;
    chunk->tid = s.tid;
    chunk->ends_stream = false;
    const uint8_t* data = map_ + s.offset;
    StreamState* coding = nullptr;
    if (s.compressed) {
      Stream& stream = streams[s.tid];
      if (s.prev_seq == 0) {
        if (!stream.dctx && !(stream.dctx = ZSTD_createDCtx())) throw std::bad_alloc();
        ZSTD_DCtx_reset(stream.dctx, ZSTD_reset_session_only);
        stream.coding.reset();
      } else if (!stream.dctx || stream.last_seq != s.prev_seq) {
        throw TraceError(info_.path, s.offset - sizeof(FrameHeader),
                         "compressed frame continues a stream whose frame " +
                             std::to_string(s.prev_seq) + " is missing");
      }
      stream.last_seq = s.seq;
      chunk->ends_stream = s.last_in_stream;
      chunk->buffer.resize(s.raw_size);
      ZSTD_outBuffer out{chunk->buffer.data(), s.raw_size, 0};
      ZSTD_inBuffer in{data, s.stored_size, 0};
      size_t status = 0;
      while (in.pos < in.size || (status != 0 && out.pos < out.size)) {
        const size_t before_in = in.pos, before_out = out.pos;
        status = ZSTD_decompressStream(stream.dctx, &out, &in);
        if (ZSTD_isError(status)) break;
        if (in.pos == before_in && out.pos == before_out) break;  // no progress: output full
      }
      if (ZSTD_isError(status) || in.pos != in.size || out.pos != s.raw_size)
        throw TraceError(info_.path, s.offset,
                         std::string("corrupt compressed frame: ") +
                             (ZSTD_isError(status) ? ZSTD_getErrorName(status) : "wrong size"));
      data = chunk->buffer.data();
      if (s.flags & format::kFrameStreamCoded) coding = &stream.coding;
      // Done with the compressed bytes: drop their pages from this process (they stay in the
      // page cache), so that reading a trace of any length keeps about a chunk per thread
      // resident, not the whole file (100M events: peak RSS 486 MiB before, see
      // docs/reliability.md).
      release_pages(s.offset - sizeof(FrameHeader), s.offset + s.stored_size);
    }
    chunk->decoder = std::make_unique<ChunkDecoder>(data, s.raw_size, s.base_time, info_.header.time_shift, s.tid,
                                                    s.compressed ? s.offset - sizeof(FrameHeader) : s.offset,
                                                    s.compressed, s.lenient, &info_.path, coding);
    if (chunk->decoder->advance()) {
      heap.push(chunk.get());
      storage.push_back(std::move(chunk));
      return true;
    }
    if (chunk->ends_stream) streams.erase(s.tid);
    free_list.push_back(std::move(chunk));
    return false;
  };
  // Opens the thread's next waiting chunk that has records, if any.
  auto continue_thread = [&](uint32_t tid) {
    merging.erase(tid);
    std::deque<size_t>& queue = waiting[tid];
    while (!queue.empty()) {
      const size_t index = queue.front();
      queue.pop_front();
      if (open_source(sources_[index])) {
        merging.insert(tid);
        return;
      }
    }
  };

  while (next < sources_.size() || !heap.empty()) {
    // Open every chunk that starts no later than the earliest pending record.
    while (next < sources_.size() &&
           (heap.empty() || (sources_[next].base_time << info_.header.time_shift) <= heap.top()->decoder->time_ns())) {
      const Source& s = sources_[next];
      if (merging.count(s.tid)) {
        waiting[s.tid].push_back(next);
      } else if (open_source(s)) {
        merging.insert(s.tid);
      }
      ++next;
    }
    if (heap.empty()) continue;
    OpenChunk* top = heap.top();
    heap.pop();
    // Deliver from this chunk for as long as its next record still comes first and no source
    // waits to be opened before it: one heap pop and push per run of records instead of per
    // record (a single-threaded trace is one long run; this was 19% of a report's instructions).
    bool more;
    do {
      top->decoder->deliver(visitor);
      more = top->decoder->advance();
    } while (more && (heap.empty() || !Later()(top, heap.top())) &&
             (next >= sources_.size() ||
              (sources_[next].base_time << info_.header.time_shift) > top->decoder->time_ns()));
    if (more) {
      heap.push(top);
    } else {
      const uint32_t tid = top->tid;
      auto it = std::find_if(storage.begin(), storage.end(),
                             [&](const auto& p) { return p.get() == top; });
      if (top->ends_stream) streams.erase(tid);
      free_list.push_back(std::move(*it));
      storage.erase(it);
      continue_thread(tid);
    }
  }
}

}  // namespace heapline::analysis
