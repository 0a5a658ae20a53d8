#include "exit_stamp.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "heapline/trace_format.h"

namespace heapline::analysis {

std::string stamp_signal_exit(const std::string& trace_path, int pid, int signal) {
  using namespace heapline::format;
  const int fd = open(trace_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return strerror(errno);
  FileHeader h{};
  struct stat st {};
  std::string problem;
  if (pread(fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h) || !header_is_valid(h) ||
      h.version != kVersion || fstat(fd, &st) != 0) {
    problem = "not a heapline trace of this version";
  } else if (h.pid != static_cast<uint32_t>(pid)) {
    problem = "trace of another process";
  } else if (static_cast<uint64_t>(st.st_size) < h.data_end) {
    problem = "trace shorter than its header says";
  }
  if (!problem.empty()) {
    close(fd);
    return problem;
  }
  // The record, dated now on the trace's clock.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const uint64_t now_ns = static_cast<uint64_t>(now.tv_sec) * 1000000000u + now.tv_nsec;
  const uint64_t ticks = now_ns > h.start_monotonic_ns ? (now_ns - h.start_monotonic_ns) >> h.time_shift : 0;
  uint8_t record[32];
  uint8_t* p = record;
  *p++ = static_cast<uint8_t>(RecordKind::kExit);
  p = put_varint(p, 0);  // delta from the frame's base time
  *p++ = static_cast<uint8_t>(ExitKind::kSignal);
  p = put_varint(p, zigzag(signal));
  const size_t raw = static_cast<size_t>(p - record);

  std::vector<uint8_t> out(sizeof(FrameHeader) + ZSTD_compressBound(raw));
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  const size_t n = ZSTD_compress2(cctx, out.data() + sizeof(FrameHeader), out.size() - sizeof(FrameHeader),
                                  record, raw);
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(n)) {
    close(fd);
    return ZSTD_getErrorName(n);
  }
  FrameHeader f{};
  f.magic = kFrameMagic;
  f.tid = static_cast<uint32_t>(pid);
  f.seq = UINT64_MAX;  // after any chunk the recorder could have numbered
  f.base_time = ticks;
  f.raw_size = static_cast<uint32_t>(raw);
  f.compressed_size = static_cast<uint32_t>(n);
  f.header_checksum = frame_header_checksum(f);
  memcpy(out.data(), &f, sizeof f);
  // Frames follow each other from data_end; a torn frame the drain left past it is overwritten.
  const uint64_t at = h.data_end;
  const size_t size = sizeof f + n;
  bool ok = pwrite(fd, out.data(), size, static_cast<off_t>(at)) == static_cast<ssize_t>(size);
  const uint64_t new_end = at + size;
  ok = ok && pwrite(fd, &new_end, sizeof new_end, offsetof(FileHeader, data_end)) == sizeof new_end;
  ok = ok && ftruncate(fd, static_cast<off_t>(new_end)) == 0;
  close(fd);
  return ok ? "" : strerror(errno);
}

}  // namespace heapline::analysis
