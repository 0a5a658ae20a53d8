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
#include "trace_reader_records.h"

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

void TraceReader::read(RecordVisitor& visitor) { read_records(visitor); }

}  // namespace heapline::analysis
