// Where a trace's bytes go: decodes every frame of a heapline trace, splits the decoded record
// bytes by field class (kind and time, sizes, stack ids, alloc addresses, free codes, stack
// records, other records and section lengths) and compresses each class on its own with zstd at the recorder's
// level and window, so each class's share of the trace shows in bytes per allocation. Also
// shows the framing costs: FrameHeaders, and what the per-chunk flushes cost against
// compressing each stream in one go; --try compresses the frames again with other zstd
// parameters, with the CPU time they take (ns per allocation, this process's thread CPU clock:
// compare tries of one run, not runs on a busy machine). Usage: trace_breakdown [--level N] [--try LEVEL:WINDOWLOG:LDM[:HASHLOG[:LDMMINMATCH[:STRATEGY[:CHAINLOG[:SEARCHLOG[:MINMATCH[:LDMHASHRATELOG]]]]]]]]... trace...
#include <zstd.h>

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "heapline/stream_coding.h"
#include "heapline/trace_format.h"

namespace {

using namespace heapline::format;

std::vector<uint8_t> read_file(const char* path) {
  std::vector<uint8_t> data;
  FILE* f = fopen(path, "rb");
  if (!f) return data;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) data.insert(data.end(), buf, buf + n);
  fclose(f);
  return data;
}

// zstd parameters to try the decoded frames with (--try LEVEL:WINDOWLOG:LDM).
// 0 leaves a parameter to the level.
struct Try {
  int level, window_log, ldm, hash_log, ldm_min_match, strategy, chain_log, search_log, min_match,
      ldm_hash_rate_log;
};

uint64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The stream's frames compressed again as the drain does, a flush per frame, with `t`; adds the
// CPU time taken to *cpu_ns.
__attribute__((noinline)) size_t recompress(const std::vector<uint8_t>& bytes, const std::vector<size_t>& frames, Try t,
                  uint64_t* cpu_ns) {
  const uint64_t started = thread_cpu_ns();
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, t.level);
  ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, t.window_log);
  ZSTD_CCtx_setParameter(c, ZSTD_c_enableLongDistanceMatching, t.ldm);
  if (t.hash_log) ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog, t.hash_log);
  if (t.ldm_min_match) ZSTD_CCtx_setParameter(c, ZSTD_c_ldmMinMatch, t.ldm_min_match);
  if (t.strategy) ZSTD_CCtx_setParameter(c, ZSTD_c_strategy, t.strategy);
  if (t.chain_log) ZSTD_CCtx_setParameter(c, ZSTD_c_chainLog, t.chain_log);
  if (t.search_log) ZSTD_CCtx_setParameter(c, ZSTD_c_searchLog, t.search_log);
  if (t.min_match) ZSTD_CCtx_setParameter(c, ZSTD_c_minMatch, t.min_match);
  if (t.ldm_hash_rate_log) ZSTD_CCtx_setParameter(c, ZSTD_c_ldmHashRateLog, t.ldm_hash_rate_log);
  std::vector<uint8_t> out(ZSTD_CStreamOutSize());
  size_t total = 0, at = 0;
  for (const size_t n : frames) {
    ZSTD_inBuffer in{bytes.data() + at, n, 0};
    size_t left;
    do {
      ZSTD_outBuffer o{out.data(), out.size(), 0};
      left = ZSTD_compressStream2(c, &o, &in, ZSTD_e_flush);
      if (ZSTD_isError(left)) break;
      total += o.pos;
    } while (left);
    at += n;
  }
  ZSTD_freeCCtx(c);
  *cpu_ns += thread_cpu_ns() - started;
  return total;
}

size_t zstd_size(const std::vector<uint8_t>& bytes, int level) {
  if (bytes.empty()) return 0;
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 20);
  std::vector<uint8_t> out(ZSTD_compressBound(bytes.size()));
  const size_t n = ZSTD_compress2(c, out.data(), out.size(), bytes.data(), bytes.size());
  ZSTD_freeCCtx(c);
  return ZSTD_isError(n) ? 0 : n;
}

enum Class { kKindTime, kApi, kSize, kStackId, kAllocAddress, kFreeAddress, kStacks, kOther, kClasses };
const char* const kClassNames[kClasses] = {"kind+time", "api",        "size",          "stack id",
                                           "alloc addr", "free code", "stack records", "other records"};

struct Stream {
  ZSTD_DCtx* dctx = nullptr;
  AddressHistory history;
  std::vector<uint64_t> ordinal_storage = std::vector<uint64_t>(kOrdinalWindow);
  BlockOrdinals ordinals{ordinal_storage.data()};
  std::vector<uint8_t> decoded;  // every frame's bytes, in order
  std::vector<size_t> frame_sizes;
  size_t compressed = 0;
};

// Splits one frame's decoded records into the class buffers.
void split(const uint8_t* data, size_t size, bool stream_coded, Stream& s,
           std::vector<uint8_t> (&classes)[kClasses], uint64_t& allocs, uint64_t& frees) {
  Cursor c{data, data + size}, sizes{}, addresses{};
  if (stream_coded) {
    FrameSections sections;
    if (!sections.parse(data, size)) {
      fprintf(stderr, "warning: bad section lengths\n");
      return;
    }
    classes[kOther].insert(classes[kOther].end(), data, sections.records.p);  // the lengths
    c = sections.records;
    sizes = sections.sizes;
    addresses = sections.addresses;
  }
  uint64_t last_address = 0;
  auto take = [&](Class k, const uint8_t* from, const uint8_t* to) {
    classes[k].insert(classes[k].end(), from, to);
  };
  while (c.ok && c.remaining()) {
    const uint8_t* record = c.p;
    const auto kind = static_cast<RecordKind>(c.byte());
    c.varint();
    if (kind != RecordKind::kAlloc && kind != RecordKind::kFree) {
      skip_record_fields(c, kind);
      take(kind == RecordKind::kStack ? kStacks : kOther, record, c.p);
      continue;
    }
    take(kKindTime, record, c.p);
    const uint8_t* p = c.p;
    c.byte();
    take(kApi, p, c.p);
    uint64_t address = 0;
    if (kind == RecordKind::kAlloc) {
      ++allocs;
      Cursor& sc = stream_coded ? sizes : c;
      p = sc.p;
      sc.varint();
      take(kSize, p, sc.p);
      Cursor& ac = stream_coded ? addresses : c;
      p = ac.p;
      if (stream_coded) {
        s.history.decode(ac, address);
        s.ordinals.on_alloc(address);
      } else {
        last_address += static_cast<uint64_t>(unzigzag(ac.varint()));
      }
      take(kAllocAddress, p, ac.p);
      p = c.p;
      c.varint();
      take(kStackId, p, c.p);
    } else {
      ++frees;
      p = c.p;
      if (!stream_coded) {
        last_address += static_cast<uint64_t>(unzigzag(c.varint()));
      } else if (const uint64_t code = c.varint(); code == kFreeByAddress) {
        s.history.decode(c, address);
      } else if (s.ordinals.decode_free(code, address)) {
        s.history.remember(address);
      } else {
        c.fail();
      }
      take(kFreeAddress, p, c.p);
    }
  }
  if (!c.ok || !sizes.ok || !addresses.ok) fprintf(stderr, "warning: a frame did not parse to its end\n");
}

int breakdown(const char* path, int level, const std::vector<Try>& tries) {
  const std::vector<uint8_t> file = read_file(path);
  if (file.size() < sizeof(FileHeader)) {
    fprintf(stderr, "%s: not a trace\n", path);
    return 1;
  }
  FileHeader h;
  std::memcpy(&h, file.data(), sizeof h);
  if (!header_is_valid(h) || h.version != kVersion || h.data_offset > file.size()) {
    fprintf(stderr, "%s: not a version %u trace\n", path, kVersion);
    return 1;
  }
  std::map<uint32_t, Stream> streams;  // tid -> stream
  std::vector<uint8_t> classes[kClasses];
  uint64_t allocs = 0, frees = 0, frames = 0, compressed = 0, stream_count = 0;
  std::vector<uint8_t> buffer(uint64_t{kMaxRecodeGrowth} * h.chunk_size);
  for (uint64_t offset = h.data_offset; offset + sizeof(FrameHeader) <= file.size();) {
    FrameHeader f;
    std::memcpy(&f, file.data() + offset, sizeof f);
    if (f.magic != kFrameMagic || f.header_checksum != frame_header_checksum(f) ||
        offset + sizeof f + f.compressed_size > file.size())
      break;
    Stream& s = streams[f.tid];
    if (f.prev_seq == 0) {
      if (!s.dctx) s.dctx = ZSTD_createDCtx();
      ZSTD_DCtx_reset(s.dctx, ZSTD_reset_session_only);
      s.history.reset();
      s.ordinals.reset();
      ++stream_count;
    }
    ZSTD_outBuffer out{buffer.data(), f.raw_size, 0};
    ZSTD_inBuffer in{file.data() + offset + sizeof f, f.compressed_size, 0};
    while (in.pos < in.size) {
      const size_t r = ZSTD_decompressStream(s.dctx, &out, &in);
      if (ZSTD_isError(r)) {
        fprintf(stderr, "%s: frame at %llu: %s\n", path, static_cast<unsigned long long>(offset),
                ZSTD_getErrorName(r));
        return 1;
      }
    }
    split(buffer.data(), out.pos, f.flags & kFrameStreamCoded, s, classes, allocs, frees);
    s.decoded.insert(s.decoded.end(), buffer.data(), buffer.data() + out.pos);
    s.frame_sizes.push_back(out.pos);
    s.compressed += f.compressed_size;
    ++frames;
    compressed += f.compressed_size;
    offset += sizeof f + f.compressed_size;
  }
  size_t one_shot = 0;
  std::vector<size_t> tried(tries.size());
  std::vector<uint64_t> tried_ns(tries.size());
  for (auto& [tid, s] : streams) {
    one_shot += zstd_size(s.decoded, level);
    for (size_t i = 0; i < tries.size(); ++i) tried[i] += recompress(s.decoded, s.frame_sizes, tries[i], &tried_ns[i]);
    ZSTD_freeDCtx(s.dctx);
  }
  const double a = allocs ? static_cast<double>(allocs) : 1;
  printf("%s: %llu allocs, %llu frees, %llu frames in %llu streams, file %zu bytes\n", path,
         static_cast<unsigned long long>(allocs), static_cast<unsigned long long>(frees),
         static_cast<unsigned long long>(frames), static_cast<unsigned long long>(stream_count),
         file.size());
  printf("  %-16s %12s %12s %9s\n", "class", "raw", "zstd alone", "B/alloc");
  size_t sum = 0;
  for (int k = 0; k < kClasses; ++k) {
    const size_t z = zstd_size(classes[k], level);
    sum += z;
    printf("  %-16s %12zu %12zu %9.4f\n", kClassNames[k], classes[k].size(), z, z / a);
  }
  printf("  %-16s %12s %12zu %9.4f\n", "sum of classes", "", sum, sum / a);
  printf("  %-16s %12s %12zu %9.4f\n", "streams 1-shot", "", one_shot, one_shot / a);
  printf("  %-16s %12s %12llu %9.4f\n", "frames' zstd", "", static_cast<unsigned long long>(compressed),
         compressed / a);
  printf("  %-16s %12s %12llu %9.4f\n", "frame headers", "",
         static_cast<unsigned long long>(frames * sizeof(FrameHeader)), frames * sizeof(FrameHeader) / a);
  printf("  %-16s %12s %12zu %9.4f\n", "file", "", file.size(), file.size() / a);
  for (size_t i = 0; i < tries.size(); ++i)
    printf("  try %d:%d:%d:%d:%d:%d:%d:%d:%d:%d: %zu bytes, %.4f B/alloc, %.0f ns/alloc\n",
           tries[i].level, tries[i].window_log, tries[i].ldm, tries[i].hash_log,
           tries[i].ldm_min_match, tries[i].strategy, tries[i].chain_log, tries[i].search_log,
           tries[i].min_match, tries[i].ldm_hash_rate_log, tried[i], tried[i] / a,
           tried_ns[i] / a);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int level = 3, status = 0;
  std::vector<Try> tries;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--level") && i + 1 < argc) {
      level = atoi(argv[++i]);
      continue;
    }
    if (!std::strcmp(argv[i], "--try") && i + 1 < argc) {
      Try t{3, 21, 0, 0, 0, 0, 0, 0, 0, 0};
      sscanf(argv[++i], "%d:%d:%d:%d:%d:%d:%d:%d:%d:%d", &t.level, &t.window_log, &t.ldm,
             &t.hash_log, &t.ldm_min_match, &t.strategy, &t.chain_log, &t.search_log, &t.min_match,
             &t.ldm_hash_rate_log);
      tries.push_back(t);
      continue;
    }
    status |= breakdown(argv[i], level, tries);
  }
  if (argc < 2) fprintf(stderr, "usage: trace_breakdown [--level N] [--try LEVEL:WINDOWLOG:LDM[:HASHLOG[:LDMMINMATCH[:STRATEGY[:CHAINLOG[:SEARCHLOG[:MINMATCH[:LDMHASHRATELOG]]]]]]]]... trace...\n");
  return argc < 2 ? 2 : status;
}
