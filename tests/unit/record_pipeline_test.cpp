// read_pipelined against TraceReader::read on real traces: every record, every field, in the same
// order, across many batch hand-overs (traces of tens of thousands of records, a few thousand per
// batch), with threads whose chunks the merge interleaves, on traces cut short (same records up
// to the cut, same error), and with a visitor that throws (the exception comes out, the reader's
// thread stops, nothing hangs). And the batch channel alone: every batch once and in order while
// either side stalls past the other's spin, so that both sleep and are woken.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include "reader/batch_channel.h"
#include "reader/record_pipeline.h"
#include "reader/trace_error.h"
#include "reader/trace_reader.h"
#include "traced_process.h"

namespace heapline::analysis {
namespace {

namespace fs = std::filesystem;

// Every field of every record, one line each.
class Transcript : public RecordVisitor, public AddressLookahead {
 public:
  std::string text;
  uint64_t records = 0;
  uint64_t lookaheads = 0;
  uint64_t throw_at = UINT64_MAX;  // throws std::runtime_error on this record

  void on_alloc(const AllocRecord& r) override {
    line("A %lu %u %d %lu %lx %u", r.time_ns, r.tid, static_cast<int>(r.api), r.size, r.address,
         r.stack_id);
  }
  void on_free(const FreeRecord& r) override {
    line("F %lu %u %d %lx", r.time_ns, r.tid, static_cast<int>(r.api), r.address);
  }
  void on_stack(const StackRecord& r) override {
    line("S %lu %u %u %zu", r.time_ns, r.tid, r.stack_id, r.frames.size());
    for (const uint64_t pc : r.frames) line(" %lx", pc);
  }
  void on_module_load(const ModuleLoadRecord& r) override {
    line("M %lu %u %lx %s %zu %zu", r.time_ns, r.module_id, r.load_bias,
         std::string(r.path).c_str(), r.build_id.size(), r.segments.size());
    for (const Segment& s : r.segments) line(" %lx %lx %u", s.vaddr, s.memsz, s.flags);
  }
  void on_module_unload(const ModuleUnloadRecord& r) override {
    line("U %lu %u", r.time_ns, r.module_id);
  }
  void on_process(const ProcessRecord& r) override {
    line("P %lu %u %u %s %zu", r.time_ns, r.pid, r.ppid, std::string(r.exe).c_str(),
         r.argv.size());
    for (const std::string_view a : r.argv) line(" %s", std::string(a).c_str());
  }
  void on_thread_name(const ThreadNameRecord& r) override {
    line("T %lu %u %s", r.time_ns, r.tid, std::string(r.name).c_str());
  }
  void on_rss(const RssRecord& r) override { line("R %lu %lu", r.time_ns, r.rss_bytes); }
  void on_exit(const ExitRecord& r) override {
    line("X %lu %u %d %ld", r.time_ns, r.tid, static_cast<int>(r.kind), r.status);
  }
  void on_exec(const ExecRecord& r) override {
    line("E %lu %u %s", r.time_ns, r.tid, std::string(r.program).c_str());
  }
  void on_lost(const LostRecord& r) override {
    line("L %lu %lu %lu", r.time_ns, r.allocations, r.frees);
  }
  void will_see(uint64_t) override { ++lookaheads; }

 private:
  template <typename... Args>
  void line(const char* format, Args... args) {
    if (records++ == throw_at) throw std::runtime_error("visitor gave up");
    char buf[4200];
    snprintf(buf, sizeof buf, format, args...);
    text += buf;
    text += '\n';
  }
};

struct Outcome {
  Transcript transcript;
  std::string error;  // TraceError's message, if any
};

Outcome read_serially(const std::string& path) {
  Outcome o;
  try {
    TraceReader reader(path);
    reader.read(o.transcript);
  } catch (const TraceError& e) {
    o.error = e.what();
  }
  return o;
}

Outcome read_in_pipeline(const std::string& path) {
  Outcome o;
  try {
    TraceReader reader(path);
    read_pipelined(reader, o.transcript);
  } catch (const TraceError& e) {
    o.error = e.what();
  }
  return o;
}

// The fixture's trace: `count` allocations and frees of one size, on the main thread or on a
// worker (two threads' chunks merged), with a tiny ring so that many frames get drained.
std::string fixture_trace(const e2e::TempDir& dir, int count, const std::string& mode) {
  e2e::RunOptions options;
  options.env = {{"HEAPLINE_RING_CHUNKS", "4"}, {"HEAPLINE_CHUNK_KB", "4"}};
  const e2e::RunResult r = e2e::run_traced(dir, FORMAT_FIXTURE, {std::to_string(count), mode},
                                           options);
  EXPECT_TRUE(r.exited(0)) << r.describe();
  return r.traces.size() == 1 ? r.traces[0] : std::string();
}

TEST(RecordPipelineTest, SameRecordsInTheSameOrderAsASerialRead) {
  e2e::TempDir dir;
  for (const std::string mode : {"main", "thread"}) {
    const std::string trace = fixture_trace(dir, 20000, mode);
    ASSERT_FALSE(trace.empty());
    const Outcome serial = read_serially(trace);
    const Outcome piped = read_in_pipeline(trace);
    ASSERT_EQ(serial.error, "") << mode;
    ASSERT_EQ(piped.error, "") << mode;
    // 40 000 allocations and frees: about twenty batches of records handed over.
    EXPECT_GT(serial.transcript.records, 40000u) << mode;
    EXPECT_EQ(piped.transcript.records, serial.transcript.records) << mode;
    EXPECT_TRUE(piped.transcript.text == serial.transcript.text) << mode;
    // Each allocation and free was announced to the lookahead once.
    EXPECT_GE(piped.transcript.lookaheads, 40000u) << mode;
    EXPECT_LT(piped.transcript.lookaheads, piped.transcript.records) << mode;
    fs::remove(trace);
  }
}

TEST(RecordPipelineTest, TraceCutShortGivesTheSameRecordsAndTheSameError) {
  e2e::TempDir dir;
  const std::string trace = fixture_trace(dir, 20000, "thread");
  ASSERT_FALSE(trace.empty());
  const uint64_t size = fs::file_size(trace);
  std::ifstream in(trace, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string cut = dir.file("cut.trace");
  int errors = 0, with_records = 0;
  for (uint64_t length = size / 7; length < size; length += size / 7 + 13) {
    std::ofstream(cut, std::ios::binary | std::ios::trunc).write(bytes.data(), length);
    const Outcome serial = read_serially(cut);
    const Outcome piped = read_in_pipeline(cut);
    EXPECT_EQ(piped.error, serial.error) << "cut at " << length;
    EXPECT_EQ(piped.transcript.records, serial.transcript.records) << "cut at " << length;
    EXPECT_TRUE(piped.transcript.text == serial.transcript.text) << "cut at " << length;
    errors += !serial.error.empty();
    with_records += serial.transcript.records > 0;
  }
  // The sweep must have read records up to some cuts, not only failed in the reader's index.
  EXPECT_GT(with_records, 0) << errors << " cuts gave an error";
}

TEST(RecordPipelineTest, VisitorExceptionStopsTheReaderAndComesOut) {
  e2e::TempDir dir;
  const std::string trace = fixture_trace(dir, 20000, "main");
  ASSERT_FALSE(trace.empty());
  for (const uint64_t at : {0ul, 5000ul, 39000ul}) {
    TraceReader reader(trace);
    Transcript visitor;
    visitor.throw_at = at;
    const auto start = std::chrono::steady_clock::now();
    try {
      read_pipelined(reader, visitor);
      ADD_FAILURE() << "no exception at record " << at;
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "visitor gave up");
    }
    EXPECT_EQ(visitor.records, at + 1);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10);
  }
}

// Pauses of up to 2 ms now and then: longer than the channel's spin (0.2 ms), so the side that
// waits goes to sleep and must be woken; most hand-overs have no pause and go through the spin.
class Staller {
 public:
  explicit Staller(unsigned seed) : random_(seed) {}
  void maybe_stall() {
    const unsigned roll = random_() % 64;
    if (roll == 0) std::this_thread::sleep_for(std::chrono::microseconds(random_() % 2000));
    if (roll == 1) std::this_thread::yield();
  }

 private:
  std::mt19937 random_;
};

TEST(BatchChannelTest, EveryBatchOnceAndInOrderWhileEitherSideStalls) {
  using pipeline::Batch;
  constexpr uint64_t kBatchesSent = 3000;
  pipeline::BatchChannel channel(8, 4);
  std::thread reader([&] {
    Staller staller(1);
    for (uint64_t n = 0; n < kBatchesSent; ++n) {
      Batch* b = channel.take_empty();
      ASSERT_EQ(b->count, 0u);  // handed out cleared
      b->events[0].a = n;
      b->count = 1 + n % 4;
      staller.maybe_stall();
      channel.publish(b);
    }
    channel.finish(nullptr);
  });
  Staller staller(2);
  uint64_t expected = 0;
  while (Batch* b = channel.take_full()) {
    EXPECT_EQ(b->events[0].a, expected);
    EXPECT_EQ(b->count, 1 + expected % 4);
    ++expected;
    staller.maybe_stall();
    channel.recycle(b);
  }
  reader.join();
  EXPECT_EQ(expected, kBatchesSent);
  EXPECT_EQ(channel.error(), nullptr);
}

TEST(BatchChannelTest, CancelWakesAReaderAsleepForEmptyBatches) {
  using pipeline::Batch;
  pipeline::BatchChannel channel(4, 4);
  std::atomic<int> filled{0};
  bool cancelled = false;
  std::thread reader([&] {
    try {
      for (;;) {
        channel.publish(channel.take_empty());
        ++filled;
      }
    } catch (const pipeline::Cancelled&) {
      cancelled = true;
    }
  });
  // All four batches end up full and the reader asleep (past its spin) waiting for an empty one.
  while (!channel.reader_asleep()) std::this_thread::yield();
  EXPECT_EQ(filled, 4);
  // One batch back is not enough to wake it (it waits for half of them), cancelling is.
  channel.recycle(channel.take_full());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(channel.reader_asleep());
  EXPECT_EQ(filled, 4);
  channel.cancel();
  reader.join();
  EXPECT_TRUE(cancelled);
}

}  // namespace
}  // namespace heapline::analysis
