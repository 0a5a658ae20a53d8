// TraceReader against real traces, made at test time by running tests/programs/format_fixture.c
// under the recorder with a tiny ring (4 chunks of 4 KiB), then cut at every byte offset,
// corrupted byte by byte, and swapped for files that are not traces at all. The reader must
// never crash or hang: it either throws TraceError naming the file and an offset, or reads
// cleanly, and a file cut short yields a subset of the records, flagged as truncated.
//
// Mutated copies live in a memfd (reopened through /proc/self/fd), so the sweeps do no disk I/O.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "heapline/trace_format.h"
#include "reader/trace_error.h"
#include "reader/trace_reader.h"

extern char** environ;

namespace heapline::analysis {
namespace {

namespace fs = std::filesystem;
using format::ChunkHeader;
using format::FileHeader;
using format::FrameHeader;

constexpr uint64_t kFixtureSize = 4321;  // FIXTURE_SIZE in format_fixture.c
constexpr int kAllocations = 1500;

// ---------------------------------------------------------------------------------------------
// Counting what a read delivers.

struct Counts {
  std::array<uint64_t, format::kMaxRecordKind + 1> kinds{};
  uint64_t fixture_allocs = 0;
  uint64_t fixture_frees = 0;  // frees of an address a fixture allocation returned

  bool within(const Counts& full) const {
    for (size_t i = 0; i < kinds.size(); ++i)
      if (kinds[i] > full.kinds[i]) return false;
    return fixture_allocs <= full.fixture_allocs && fixture_frees <= full.fixture_frees;
  }
  bool operator==(const Counts&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Counts& c) {
  out << "{fixture allocs " << c.fixture_allocs << ", fixture frees " << c.fixture_frees
      << ", by kind";
  for (size_t i = 1; i < c.kinds.size(); ++i) out << ' ' << c.kinds[i];
  return out << '}';
}

class CountingVisitor : public RecordVisitor {
 public:
  Counts counts;
  bool time_ordered = true;

  void on_alloc(const AllocRecord& r) override {
    seen(format::RecordKind::kAlloc, r.time_ns);
    if (r.size == kFixtureSize) {
      ++counts.fixture_allocs;
      live_.insert(r.address);
    }
  }
  void on_free(const FreeRecord& r) override {
    seen(format::RecordKind::kFree, r.time_ns);
    if (live_.erase(r.address)) ++counts.fixture_frees;
  }
  void on_stack(const StackRecord& r) override { seen(format::RecordKind::kStack, r.time_ns); }
  void on_module_load(const ModuleLoadRecord& r) override {
    seen(format::RecordKind::kModuleLoad, r.time_ns);
  }
  void on_module_unload(const ModuleUnloadRecord& r) override {
    seen(format::RecordKind::kModuleUnload, r.time_ns);
  }
  void on_process(const ProcessRecord& r) override { seen(format::RecordKind::kProcess, r.time_ns); }
  void on_thread_name(const ThreadNameRecord& r) override {
    seen(format::RecordKind::kThreadName, r.time_ns);
  }
  void on_rss(const RssRecord& r) override { seen(format::RecordKind::kRss, r.time_ns); }
  void on_exit(const ExitRecord& r) override { seen(format::RecordKind::kExit, r.time_ns); }
  void on_lost(const LostRecord& r) override { seen(format::RecordKind::kLost, r.time_ns); }

 private:
  void seen(format::RecordKind kind, uint64_t time_ns) {
    ++counts.kinds[static_cast<size_t>(kind)];
    if (time_ns < last_time_) time_ordered = false;
    last_time_ = time_ns;
  }
  uint64_t last_time_ = 0;
  std::unordered_set<uint64_t> live_;
};

struct ReadResult {
  bool ok = false;
  std::string error;
  uint64_t error_offset = 0;
  TraceInfo info;
  Counts counts;
  bool time_ordered = false;
};

// Reads `path` completely. TraceError is an expected outcome; anything else escapes and fails.
ReadResult read_trace(const std::string& path) {
  ReadResult result;
  try {
    TraceReader reader(path);
    CountingVisitor visitor;
    reader.read(visitor);
    result.ok = true;
    result.info = reader.info();
    result.counts = visitor.counts;
    result.time_ordered = visitor.time_ordered;
  } catch (const TraceError& e) {
    result.error = e.what();
    result.error_offset = e.offset();
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// A trace copy in memory that the reader opens by path.

class MemFile {
 public:
  explicit MemFile(const std::string& bytes) {
    fd_ = memfd_create("heapline-trace", MFD_CLOEXEC);
    path_ = "/proc/self/fd/" + std::to_string(fd_);
    assign(bytes);
  }
  ~MemFile() { close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  const std::string& path() const { return path_; }
  bool valid() const { return fd_ >= 0; }
  void assign(const std::string& bytes) {
    EXPECT_EQ(ftruncate(fd_, 0), 0);
    write_at(0, bytes.data(), bytes.size());
  }
  void resize(size_t n) { EXPECT_EQ(ftruncate(fd_, static_cast<off_t>(n)), 0); }
  void write_at(size_t offset, const void* data, size_t n) {
    EXPECT_EQ(pwrite(fd_, data, n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
  }
  void put_byte(size_t offset, uint8_t b) { write_at(offset, &b, 1); }

 private:
  int fd_ = -1;
  std::string path_;
};

// ---------------------------------------------------------------------------------------------
// Running the fixture under the recorder.

struct FixtureRun {
  std::string trace;     // the bytes of the one trace file it left
  std::string error;     // why there is no trace
  double seconds = 0;    // how long the fixture ran
};

FixtureRun run_fixture(int count, const std::string& mode,
                       const std::map<std::string, std::string>& settings) {
  FixtureRun run;
  std::string dir_pattern = (fs::temp_directory_path() / "heapline-format-XXXXXX").string();
  const char* dir = mkdtemp(dir_pattern.data());
  if (!dir) {
    run.error = "mkdtemp failed";
    return run;
  }

  std::map<std::string, std::string> env = {
      {"LD_PRELOAD", HEAPLINE_PRELOAD_LIBRARY},
      {"HEAPLINE_OUTPUT", std::string(dir) + "/fixture.%p.trace"},
      {"HEAPLINE_RING_CHUNKS", "4"},
      {"HEAPLINE_CHUNK_KB", "4"},
      {"HEAPLINE_RSS_MS", "0"},
  };
  for (const auto& [k, v] : settings) env[k] = v;
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (name.rfind("HEAPLINE_", 0) != 0 && name != "LD_PRELOAD") env_strings.push_back(entry);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::string program = FORMAT_FIXTURE, count_arg = std::to_string(count), mode_arg = mode;
  char* argv[] = {program.data(), count_arg.data(), mode_arg.data(), nullptr};
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv, envp.data()) != 0) {
    run.error = "cannot run " + program;
    return run;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool expected_end = mode == "kill" || mode == "thread_kill"
                                ? WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL
                                : WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!expected_end) run.error = "fixture ended with status " + std::to_string(status);

  std::vector<fs::path> traces;
  for (const auto& entry : fs::directory_iterator(dir)) traces.push_back(entry.path());
  if (traces.size() != 1) {
    run.error += " fixture left " + std::to_string(traces.size()) + " files";
  } else {
    std::ifstream in(traces[0], std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    run.trace = bytes.str();
  }
  fs::remove_all(dir);
  return run;
}

// ---------------------------------------------------------------------------------------------
// Where things are in a trace, found by walking it like the reader does (for targeted mutations).

struct Layout {
  FileHeader header{};
  struct Frame {
    uint64_t offset;  // of the FrameHeader
    FrameHeader header;
  };
  std::vector<Frame> frames;
};

Layout parse_layout(const std::string& bytes) {
  Layout layout;
  std::memcpy(&layout.header, bytes.data(), sizeof layout.header);
  uint64_t offset = layout.header.data_offset;
  while (offset + sizeof(FrameHeader) <= bytes.size()) {
    FrameHeader f;
    std::memcpy(&f, bytes.data() + offset, sizeof f);
    if (f.magic != format::kFrameMagic) break;
    layout.frames.push_back({offset, f});
    offset += sizeof f + f.compressed_size;
  }
  return layout;
}

uint64_t chunk_offset(const FileHeader& h, uint32_t index) {
  return h.ring_offset + static_cast<uint64_t>(index) * h.chunk_size;
}

// The plain fields of a ring chunk's header (the atomics are read as bytes).
struct ChunkFields {
  uint32_t magic, state;
  uint64_t seq;
  uint32_t tid, used;
};

ChunkFields chunk_fields(const std::string& bytes, uint64_t offset) {
  ChunkFields c{};
  std::memcpy(&c.magic, bytes.data() + offset + offsetof(ChunkHeader, magic), 4);
  std::memcpy(&c.state, bytes.data() + offset + offsetof(ChunkHeader, state), 4);
  std::memcpy(&c.seq, bytes.data() + offset + offsetof(ChunkHeader, seq), 8);
  std::memcpy(&c.tid, bytes.data() + offset + offsetof(ChunkHeader, tid), 4);
  std::memcpy(&c.used, bytes.data() + offset + offsetof(ChunkHeader, used), 4);
  return c;
}

template <typename T>
void store(std::string& bytes, uint64_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

// ---------------------------------------------------------------------------------------------

class TraceReaderTest : public ::testing::Test {
 protected:
  // Each fixture run costs a few hundred ms: made once, on first use.
  static const FixtureRun& main_trace() {
    static const FixtureRun run = run_fixture(kAllocations, "main", {});
    return run;
  }
  static const FixtureRun& thread_trace() {
    static const FixtureRun run = run_fixture(kAllocations, "thread", {});
    return run;
  }
  static const FixtureRun& killed_thread_trace() {
    static const FixtureRun run = run_fixture(kAllocations, "thread_kill", {});
    return run;
  }
  static const FixtureRun& killed_trace() {
    static const FixtureRun run = run_fixture(kAllocations, "kill", {});
    return run;
  }
  static const FixtureRun& ring_only_trace() {
    // One 1 MiB chunk per thread: nothing fills, nothing is sealed, nothing is drained.
    static const FixtureRun run = run_fixture(kAllocations, "main", {{"HEAPLINE_CHUNK_KB", "1024"}});
    return run;
  }

  static ReadResult read_bytes(const std::string& bytes) {
    MemFile file(bytes);
    return read_trace(file.path());
  }
};

// The fixture takes well under a second; a recorder thread waiting for a chunk that never comes
// free stalls it for 30 s (the drain thread once waited for itself when the target filled the
// ring before the drain's first pass).
#define REQUIRE_TRACE(run)                                                     \
  do {                                                                         \
    ASSERT_TRUE((run).error.empty()) << (run).error;                           \
    ASSERT_GE((run).trace.size(), format::kFileHeaderSize);                    \
    EXPECT_LT((run).seconds, 15.0) << "the fixture stalled under the recorder"; \
  } while (0)

TEST_F(TraceReaderTest, FullTraceHasExactlyTheFixturesAllocations) {
  REQUIRE_TRACE(main_trace());
  const ReadResult r = read_bytes(main_trace().trace);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.counts.fixture_allocs, static_cast<uint64_t>(kAllocations)) << r.counts;
  EXPECT_EQ(r.counts.fixture_frees, static_cast<uint64_t>(kAllocations)) << r.counts;
  EXPECT_EQ(r.counts.kinds[static_cast<size_t>(format::RecordKind::kProcess)], 1u);
  EXPECT_EQ(r.counts.kinds[static_cast<size_t>(format::RecordKind::kExit)], 1u);
  EXPECT_GE(r.counts.kinds[static_cast<size_t>(format::RecordKind::kModuleLoad)], 2u);
  EXPECT_FALSE(r.info.truncated);
  EXPECT_TRUE(r.info.notes.empty()) << r.info.notes.front();
  EXPECT_TRUE(r.time_ordered);
  // The tiny ring forced chunks to be sealed and drained; at a clean exit the last ones are
  // drained too, after the exit record (the killed fixtures below keep theirs in the ring).
  EXPECT_GT(r.info.frames, 0u);
  EXPECT_EQ(r.info.ring_chunks, 0u);
  EXPECT_EQ(r.info.header.chunk_count, 4u);
  EXPECT_EQ(r.info.header.chunk_size, 4096u);
  EXPECT_EQ(r.info.header.data_end, main_trace().trace.size());
}

TEST_F(TraceReaderTest, TruncationAtEveryOffsetReadsASubsetOrFailsInTheHeader) {
  REQUIRE_TRACE(main_trace());
  const std::string& bytes = main_trace().trace;
  const ReadResult full = read_bytes(bytes);
  ASSERT_TRUE(full.ok) << full.error;

  // Shrinking one memfd from the full size down to 0: each step only drops the last byte.
  MemFile file(bytes);
  size_t reads_ok = 0;
  for (size_t n = bytes.size(); n-- > 0;) {
    file.resize(n);
    const ReadResult r = read_trace(file.path());
    if (!r.ok) {
      // Only a file too short to hold the FileHeader is refused.
      ASSERT_LT(n, sizeof(FileHeader)) << "cut at " << n << ": " << r.error;
      ASSERT_LE(r.error_offset, sizeof(FileHeader)) << r.error;
      ASSERT_NE(r.error.find(file.path()), std::string::npos) << r.error;
      continue;
    }
    ++reads_ok;
    ASSERT_GE(n, sizeof(FileHeader));
    ASSERT_TRUE(r.counts.within(full.counts)) << "cut at " << n << ": " << r.counts << " vs "
                                              << full.counts;
    ASSERT_TRUE(r.info.truncated) << "cut at " << n << " not flagged as truncated";
    ASSERT_FALSE(r.info.notes.empty()) << "cut at " << n;
    ASSERT_TRUE(r.time_ordered) << "cut at " << n;
  }
  EXPECT_EQ(reads_ok, bytes.size() - sizeof(FileHeader));
}

TEST_F(TraceReaderTest, TruncatingAThreadsTraceAtEveryOffset) {
  REQUIRE_TRACE(thread_trace());
  const std::string& bytes = thread_trace().trace;
  const ReadResult full = read_bytes(bytes);
  ASSERT_TRUE(full.ok) << full.error;
  MemFile file(bytes);
  for (size_t n = bytes.size(); n-- > sizeof(FileHeader);) {
    file.resize(n);
    const ReadResult r = read_trace(file.path());
    ASSERT_TRUE(r.ok) << "cut at " << n << ": " << r.error;
    ASSERT_TRUE(r.counts.within(full.counts)) << "cut at " << n << ": " << r.counts;
    ASSERT_TRUE(r.info.truncated) << "cut at " << n;
  }
}

TEST_F(TraceReaderTest, FlippedBytesGiveTraceErrorOrACleanRead) {
  REQUIRE_TRACE(main_trace());
  const std::string& bytes = main_trace().trace;
  const ReadResult full = read_bytes(bytes);
  ASSERT_TRUE(full.ok) << full.error;
  const Layout layout = parse_layout(bytes);
  ASSERT_FALSE(layout.frames.empty());

  // What must happen for some regions: an error at a known offset, or an identical read.
  std::vector<std::optional<uint64_t>> must_fail_at(bytes.size());
  std::vector<bool> must_be_identical(bytes.size(), false);
  for (size_t i = 0; i < offsetof(FileHeader, data_end); ++i) must_fail_at[i] = 0;  // any offset
  // data_end is a hint, pid..flags and sample_bytes are informational, the rest of the 4 KiB is
  // padding. (time_shift changes every timestamp: either refused or read with other times.)
  for (size_t i = offsetof(FileHeader, data_end); i < format::kFileHeaderSize; ++i)
    must_be_identical[i] = i < offsetof(FileHeader, time_shift) ||
                           i >= offsetof(FileHeader, time_shift) + sizeof(uint32_t);
  for (const Layout::Frame& f : layout.frames) {
    // Every byte of a frame header is covered by its checksum (or is the checksum).
    for (size_t i = 0; i < sizeof(FrameHeader); ++i) must_fail_at[f.offset + i] = f.offset;
  }

  MemFile file(bytes);
  // Every byte of the header region and of every chunk and frame header, with three masks; a
  // sample of the record bytes (every 5th with one mask, every 11th with the others), which keeps
  // the sweep to a few seconds.
  std::vector<bool> structural(bytes.size(), false);
  for (size_t i = 0; i < format::kFileHeaderSize; ++i) structural[i] = true;
  for (uint32_t c = 0; c < layout.header.chunk_count; ++c)
    for (size_t i = 0; i < sizeof(ChunkHeader); ++i) structural[chunk_offset(layout.header, c) + i] = true;
  for (const Layout::Frame& f : layout.frames)
    for (size_t i = 0; i < sizeof(FrameHeader); ++i) structural[f.offset + i] = true;

  size_t errors = 0, clean = 0;
  for (const uint8_t mask : {uint8_t{0xff}, uint8_t{0x01}, uint8_t{0x80}}) {
    const size_t sample = mask == 0xff ? 5 : 11;
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (!structural[i] && i % sample != 0) continue;
      if (mask != 0xff && i >= sizeof(FileHeader) && i < format::kFileHeaderSize && i % sample != 0)
        continue;  // the zero padding: every byte once is enough
      const uint8_t original = static_cast<uint8_t>(bytes[i]);
      file.put_byte(i, original ^ mask);
      const ReadResult r = read_trace(file.path());
      file.put_byte(i, original);
      if (r.ok) {
        ++clean;
        ASSERT_FALSE(must_fail_at[i].has_value()) << "flip at " << i << " read without error";
        if (must_be_identical[i]) {
          ASSERT_EQ(r.counts, full.counts) << "flip at " << i;
        }
      } else {
        ++errors;
        ASSERT_FALSE(must_be_identical[i]) << "flip at " << i << ": " << r.error;
        ASSERT_NE(r.error.find(file.path()), std::string::npos) << r.error;
        ASSERT_LE(r.error_offset, bytes.size()) << r.error;
        if (must_fail_at[i] && *must_fail_at[i] != 0) {
          ASSERT_EQ(r.error_offset, *must_fail_at[i]) << "flip at " << i << ": " << r.error;
        }
      }
    }
  }
  EXPECT_GT(errors, 0u);
  EXPECT_GT(clean, 0u);
}

// Nothing fills a chunk while the program runs; at exit the recorder seals and drains what is
// left, so everything arrives in one frame per thread (and its ring blocks are given back).
TEST_F(TraceReaderTest, RingOnlyTraceReadsEverything) {
  REQUIRE_TRACE(ring_only_trace());
  const ReadResult r = read_bytes(ring_only_trace().trace);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GE(r.info.frames + r.info.ring_chunks, 1u);
  EXPECT_EQ(r.counts.fixture_allocs, static_cast<uint64_t>(kAllocations));
  EXPECT_EQ(r.counts.fixture_frees, static_cast<uint64_t>(kAllocations));
  EXPECT_EQ(r.counts.kinds[static_cast<size_t>(format::RecordKind::kExit)], 1u);
  EXPECT_FALSE(r.info.truncated);
  EXPECT_TRUE(r.time_ordered);
}

TEST_F(TraceReaderTest, KilledProcessLeavesEveryPublishedRecord) {
  REQUIRE_TRACE(killed_trace());
  const ReadResult r = read_bytes(killed_trace().trace);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.counts.fixture_allocs, static_cast<uint64_t>(kAllocations));
  EXPECT_EQ(r.counts.fixture_frees, 0u);
  EXPECT_EQ(r.counts.kinds[static_cast<size_t>(format::RecordKind::kExit)], 0u);
  EXPECT_FALSE(r.info.truncated);
  EXPECT_TRUE(r.time_ordered);
}

// The worker's chunks were sealed when it exited and drained while main slept: its records are
// all in frames, so the trace reads the same with every ring chunk erased.
TEST_F(TraceReaderTest, DrainedFramesAloneHoldTheWorkersAllocations) {
  REQUIRE_TRACE(thread_trace());
  std::string bytes = thread_trace().trace;
  const ReadResult full = read_bytes(bytes);
  ASSERT_TRUE(full.ok) << full.error;
  EXPECT_EQ(full.counts.fixture_allocs, static_cast<uint64_t>(kAllocations));
  EXPECT_EQ(full.counts.fixture_frees, static_cast<uint64_t>(kAllocations));
  EXPECT_GE(full.info.frames, 2u);

  const FileHeader& h = parse_layout(bytes).header;
  for (uint32_t i = 0; i < h.chunk_count; ++i) store<uint32_t>(bytes, chunk_offset(h, i), 0);
  const ReadResult frames_only = read_bytes(bytes);
  ASSERT_TRUE(frames_only.ok) << frames_only.error;
  EXPECT_EQ(frames_only.info.ring_chunks, 0u);
  EXPECT_EQ(frames_only.counts.fixture_allocs, static_cast<uint64_t>(kAllocations));
  EXPECT_EQ(frames_only.counts.fixture_frees, static_cast<uint64_t>(kAllocations));
}

// A crash between "frame written" and "chunk freed" leaves the same chunk in both places; the
// reader keeps one copy by sequence number. (A killed process's trace: at a normal exit the
// recorder gives the blocks of drained chunks back, and their bytes with them.)
TEST_F(TraceReaderTest, ChunkBothInAFrameAndInTheRingIsReadOnce) {
  // The chunk of the last frame: drained (free) but its bytes still intact. Whether a thread
  // took that chunk again before the kill depends on timing (it did in about one run in ten
  // on a loaded machine): the fixture is run again, up to three times, until it holds.
  FixtureRun run = killed_thread_trace();
  std::string bytes;
  Layout layout;
  std::optional<uint64_t> twin;
  for (int attempt = 0; attempt < 3 && !twin; ++attempt) {
    if (attempt > 0) run = run_fixture(kAllocations, "thread_kill", {});
    REQUIRE_TRACE(run);
    bytes = run.trace;
    layout = parse_layout(bytes);
    ASSERT_FALSE(layout.frames.empty());
    for (uint32_t i = 0; i < layout.header.chunk_count; ++i) {
      const ChunkFields c = chunk_fields(bytes, chunk_offset(layout.header, i));
      if (c.magic == format::kChunkMagic && c.seq == layout.frames.back().header.seq &&
          c.state == static_cast<uint32_t>(format::ChunkState::kFree) && c.used > 0)
        twin = chunk_offset(layout.header, i);
    }
  }
  ASSERT_TRUE(twin.has_value()) << "no free ring chunk still holds the last frame's records";
  const ReadResult full = read_bytes(bytes);
  ASSERT_TRUE(full.ok) << full.error;
  const Layout::Frame& last = layout.frames.back();
  store<uint32_t>(bytes, *twin + offsetof(ChunkHeader, state),
                  static_cast<uint32_t>(format::ChunkState::kSealed));
  const ReadResult both = read_bytes(bytes);
  ASSERT_TRUE(both.ok) << both.error;
  EXPECT_EQ(both.counts, full.counts);

  // The same crash a moment earlier: the frame only half written and not yet published in
  // data_end. The ring copy stands in for it; nothing is lost and nothing is truncated.
  std::string torn = bytes.substr(0, last.offset + sizeof(FrameHeader) + last.header.compressed_size / 2);
  store<uint64_t>(torn, offsetof(FileHeader, data_end), last.offset);
  const ReadResult r = read_bytes(torn);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.counts, full.counts);
  EXPECT_FALSE(r.info.truncated);
  ASSERT_EQ(r.info.notes.size(), 1u);
  EXPECT_NE(r.info.notes[0].find("unfinished frame"), std::string::npos) << r.info.notes[0];
}

TEST_F(TraceReaderTest, GarbageAfterThePublishedEndIsIgnored) {
  REQUIRE_TRACE(main_trace());
  const ReadResult full = read_bytes(main_trace().trace);
  ASSERT_TRUE(full.ok) << full.error;
  for (const std::string& tail : {std::string(7, 'x'), std::string(100, '\0'),
                                  main_trace().trace.substr(parse_layout(main_trace().trace).frames[0].offset, 50)}) {
    const ReadResult r = read_bytes(main_trace().trace + tail);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.counts, full.counts);
    EXPECT_FALSE(r.info.truncated);
    EXPECT_FALSE(r.info.notes.empty());
  }
}

TEST_F(TraceReaderTest, ForeignFilesAreRefusedWithPathAndOffset) {
  const fs::path dir = fs::temp_directory_path() / ("heapline-foreign-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path empty = dir / "empty.trace", text = dir / "notes.txt", tiny = dir / "tiny";
  std::ofstream(empty).close();
  {
    std::ofstream out(text);
    for (int i = 0; i < 100; ++i) out << "this is not a heapline trace, line " << i << '\n';
  }
  std::ofstream(tiny) << "HEAPLNTR";  // the right magic, nothing else
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/bin/ls", "bad magic"},
      {empty.string(), "too short"},
      {text.string(), "bad magic"},
      {tiny.string(), "too short"},
      {dir.string(), "not a regular file"},
      {(dir / "missing").string(), "cannot open"},
  };
  for (const auto& [path, why] : cases) {
    const ReadResult r = read_trace(path);
    ASSERT_FALSE(r.ok) << path;
    EXPECT_NE(r.error.find(path + ": at byte offset " + std::to_string(r.error_offset)),
              std::string::npos)
        << r.error;
    EXPECT_NE(r.error.find(why), std::string::npos) << r.error;
  }
  fs::remove_all(dir);
}

TEST_F(TraceReaderTest, WrongVersionIsNamed) {
  REQUIRE_TRACE(main_trace());
  for (const uint32_t version : {0u, format::kVersion - 1, format::kVersion + 1, 0x01000000u}) {
    std::string bytes = main_trace().trace;
    store<uint32_t>(bytes, offsetof(FileHeader, version), version);
    MemFile file(bytes);
    const ReadResult r = read_trace(file.path());
    ASSERT_FALSE(r.ok);
    EXPECT_EQ(r.error_offset, offsetof(FileHeader, version));
    EXPECT_NE(r.error.find("unsupported trace format version " + std::to_string(version)),
              std::string::npos)
        << r.error;
    EXPECT_NE(r.error.find("reads version " + std::to_string(format::kVersion)), std::string::npos)
        << r.error;
  }
}

}  // namespace
}  // namespace heapline::analysis
