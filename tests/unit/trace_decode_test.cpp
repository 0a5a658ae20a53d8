// The reader against traces built byte by byte in the test, following docs/trace-format.md:
// every record kind with its fields in order, the merge rule (time order, frees first at equal
// time), deduplication of a chunk that is both drained and still in the ring, and the offsets
// that TraceError names for each kind of corruption. If the spec and the reader disagree, one
// of these fails.
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "heapline/stream_coding.h"
#include "heapline/trace_format.h"
#include "reader/trace_error.h"
#include "reader/trace_reader.h"

namespace heapline::analysis {
namespace {

using format::ChunkHeader;
using format::ChunkState;
using format::FileHeader;
using format::FrameHeader;
using format::RecordKind;

// The body of a chunk: records appended field by field.
struct Records {
  std::vector<uint8_t> bytes;

  Records& kind(RecordKind k, uint64_t time_delta) {
    bytes.push_back(static_cast<uint8_t>(k));
    return v(time_delta);
  }
  Records& v(uint64_t value) {
    uint8_t buf[format::kMaxVarintSize];
    bytes.insert(bytes.end(), buf, format::put_varint(buf, value));
    return *this;
  }
  Records& zz(int64_t value) { return v(format::zigzag(value)); }
  Records& u8(uint8_t value) {
    bytes.push_back(value);
    return *this;
  }
  Records& str(std::string_view s) {
    v(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
};

// The payload of a stream-coded frame (kFrameStreamCoded), built through the stream's encoder
// state as the drain codes it: records, sizes and allocation address codes in their sections.
struct StreamCoder {
  format::AddressHistoryEncoder history;
  std::vector<format::BlockOrdinalsEncoder::Slot> slots =
      std::vector<format::BlockOrdinalsEncoder::Slot>(format::kOrdinalWindow);
  format::BlockOrdinalsEncoder ordinals{slots.data()};
  StreamCoder() { history.reset(); }
};

struct StreamRecords {
  Records records, sizes, addresses;

  StreamRecords& alloc(StreamCoder& c, uint64_t dt, uint8_t api, uint64_t size, uint64_t address,
                       uint64_t stack) {
    records.kind(RecordKind::kAlloc, dt).u8(api).v(stack);
    sizes.v(size);
    uint8_t buf[2 * format::kMaxVarintSize];
    addresses.bytes.insert(addresses.bytes.end(), buf, c.history.encode(buf, address));
    c.ordinals.on_alloc(address);
    return *this;
  }
  StreamRecords& free(StreamCoder& c, uint64_t dt, uint8_t api, uint64_t address) {
    records.kind(RecordKind::kFree, dt).u8(api);
    const uint64_t code = c.ordinals.free_code(address);
    last_free_code = code;
    records.v(code);
    if (code == format::kFreeByAddress) {
      uint8_t buf[2 * format::kMaxVarintSize];
      records.bytes.insert(records.bytes.end(), buf, c.history.encode(buf, address));
    } else {
      c.history.remember(address);
    }
    return *this;
  }
  Records payload() const {
    Records p;
    p.v(records.bytes.size()).v(sizes.bytes.size());
    for (const Records* r : {&records, &sizes, &addresses})
      p.bytes.insert(p.bytes.end(), r->bytes.begin(), r->bytes.end());
    return p;
  }
  uint64_t last_free_code = 0;
};

// A trace file in memory: header, a ring of `chunk_count` chunks, frames appended after it.
class TraceBuilder {
 public:
  static constexpr uint32_t kChunkSize = 4096;
  static constexpr uint32_t kChunkCount = 4;

  TraceBuilder() : bytes_(format::kFileHeaderSize + kChunkSize * kChunkCount, '\0') {
    FileHeader h{};
    std::memcpy(h.magic, format::kFileMagic, sizeof h.magic);
    h.version = format::kVersion;
    h.header_size = format::kFileHeaderSize;
    h.chunk_size = kChunkSize;
    h.chunk_count = kChunkCount;
    h.ring_offset = format::kFileHeaderSize;
    h.data_offset = bytes_.size();
    h.data_end = bytes_.size();
    h.pid = 1234;
    h.ppid = 1;
    h.time_shift = format::kTimeShift;
    std::memcpy(bytes_.data(), &h, sizeof h);
  }

  static uint64_t chunk_offset(uint32_t index) {
    return format::kFileHeaderSize + static_cast<uint64_t>(index) * kChunkSize;
  }

  // Writes ring chunk `index` as its owner would have left it.
  void ring_chunk(uint32_t index, ChunkState state, uint64_t seq, uint32_t tid, uint64_t base_time,
                  const Records& records) {
    const uint64_t at = chunk_offset(index);
    put<uint32_t>(at + offsetof(ChunkHeader, magic), format::kChunkMagic);
    put<uint32_t>(at + offsetof(ChunkHeader, state), static_cast<uint32_t>(state));
    put<uint64_t>(at + offsetof(ChunkHeader, seq), seq);
    put<uint32_t>(at + offsetof(ChunkHeader, tid), tid);
    put<uint32_t>(at + offsetof(ChunkHeader, used), static_cast<uint32_t>(records.bytes.size()));
    put<uint64_t>(at + offsetof(ChunkHeader, base_time), base_time);
    std::memcpy(bytes_.data() + at + sizeof(ChunkHeader), records.bytes.data(),
                records.bytes.size());
  }

  // Appends a frame holding one whole zstd frame (a stream of its own, addresses delta-coded as
  // in the ring); returns the offset of its FrameHeader.
  uint64_t frame(uint64_t seq, uint32_t tid, uint64_t base_time, const Records& records) {
    std::vector<uint8_t> compressed(ZSTD_compressBound(records.bytes.size()));
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    const size_t n = ZSTD_compress2(cctx, compressed.data(), compressed.size(),
                                    records.bytes.data(), records.bytes.size());
    ZSTD_freeCCtx(cctx);
    EXPECT_FALSE(ZSTD_isError(n));
    compressed.resize(n);
    return append_frame({seq, tid, base_time, 0, 0}, records, compressed);
  }

  // Appends the next frame of thread `tid`'s compression stream (a flush of one zstd frame,
  // records stream-coded), as the drain writes them; `records` is a StreamRecords::payload().
  // Returns the offset of its FrameHeader.
  uint64_t stream_frame(uint64_t seq, uint64_t prev_seq, uint32_t tid, uint64_t base_time,
                        const Records& records) {
    ZSTD_CCtx*& stream = streams_[tid];  // each thread's frames are one zstd stream
    if (!stream) stream = ZSTD_createCCtx();
    if (prev_seq == 0) ZSTD_CCtx_reset(stream, ZSTD_reset_session_only);
    std::vector<uint8_t> compressed(ZSTD_compressBound(records.bytes.size()) + 64);
    ZSTD_outBuffer out{compressed.data(), compressed.size(), 0};
    ZSTD_inBuffer in{records.bytes.data(), records.bytes.size(), 0};
    while (ZSTD_compressStream2(stream, &out, &in, ZSTD_e_flush) != 0) {
    }
    compressed.resize(out.pos);
    return append_frame({seq, tid, base_time, prev_seq, format::kFrameStreamCoded}, records,
                        compressed);
  }
  ~TraceBuilder() {
    for (auto& [tid, stream] : streams_) ZSTD_freeCCtx(stream);
  }

  template <typename T>
  void put(uint64_t offset, T value) {
    std::memcpy(bytes_.data() + offset, &value, sizeof value);
  }
  std::string& bytes() { return bytes_; }

 private:
  struct FrameFields {
    uint64_t seq;
    uint32_t tid;
    uint64_t base_time, prev_seq;
    uint32_t flags;
  };
  uint64_t append_frame(const FrameFields& k, const Records& records,
                        const std::vector<uint8_t>& compressed) {
    FrameHeader f{};
    f.magic = format::kFrameMagic;
    f.tid = k.tid;
    f.seq = k.seq;
    f.base_time = k.base_time;
    f.raw_size = static_cast<uint32_t>(records.bytes.size());
    f.compressed_size = static_cast<uint32_t>(compressed.size());
    f.prev_seq = k.prev_seq;
    f.flags = k.flags;
    f.header_checksum = format::frame_header_checksum(f);
    const uint64_t offset = bytes_.size();
    bytes_.append(reinterpret_cast<const char*>(&f), sizeof f);
    bytes_.append(reinterpret_cast<const char*>(compressed.data()), compressed.size());
    put<uint64_t>(offsetof(FileHeader, data_end), bytes_.size());
    return offset;
  }

  std::string bytes_;
  std::map<uint32_t, ZSTD_CCtx*> streams_;
};

// Every callback as one line of text, so a whole replay compares with one EXPECT.
class LoggingVisitor : public RecordVisitor {
 public:
  std::vector<std::string> log;

  void on_alloc(const AllocRecord& r) override {
    add(r.time_ns, "alloc tid=" + n(r.tid) + " api=" + api_name(r.api) + " size=" + n(r.size) +
                       " addr=" + hex(r.address) + " stack=" + n(r.stack_id));
  }
  void on_free(const FreeRecord& r) override {
    add(r.time_ns, "free tid=" + n(r.tid) + " api=" + api_name(r.api) + " addr=" + hex(r.address));
  }
  void on_stack(const StackRecord& r) override {
    std::string s = "stack tid=" + n(r.tid) + " id=" + n(r.stack_id);
    for (const uint64_t f : r.frames) s += " " + hex(f);
    add(r.time_ns, s);
  }
  void on_module_load(const ModuleLoadRecord& r) override {
    std::string s = "module-load id=" + n(r.module_id) + " bias=" + hex(r.load_bias) + " path=" +
                    std::string(r.path) + " build-id=";
    for (const char c : r.build_id) s += hex(static_cast<uint8_t>(c));
    for (const Segment& g : r.segments)
      s += " [" + hex(g.vaddr) + " " + hex(g.memsz) + " " + n(g.flags) + "]";
    add(r.time_ns, s);
  }
  void on_module_unload(const ModuleUnloadRecord& r) override {
    add(r.time_ns, "module-unload id=" + n(r.module_id));
  }
  void on_process(const ProcessRecord& r) override {
    std::string s = "process pid=" + n(r.pid) + " ppid=" + n(r.ppid) + " exe=" + std::string(r.exe);
    for (const std::string_view a : r.argv) s += " '" + std::string(a) + "'";
    add(r.time_ns, s);
  }
  void on_thread_name(const ThreadNameRecord& r) override {
    add(r.time_ns, "thread-name tid=" + n(r.tid) + " " + std::string(r.name));
  }
  void on_rss(const RssRecord& r) override { add(r.time_ns, "rss " + n(r.rss_bytes)); }
  void on_exit(const ExitRecord& r) override {
    add(r.time_ns, std::string("exit tid=") + n(r.tid) + " " + exit_kind_name(r.kind) + " " +
                       std::to_string(r.status));
  }
  void on_lost(const LostRecord& r) override {
    add(r.time_ns, "lost " + n(r.allocations) + " " + n(r.frees));
  }

 static std::string hex(uint64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
    return buf;
  }

 private:
  static std::string n(uint64_t v) { return std::to_string(v); }
  void add(uint64_t time_ns, const std::string& what) { log.push_back(n(time_ns) + " " + what); }
};

struct Replay {
  std::vector<std::string> log;
  TraceInfo info;
};

Replay replay(const std::string& bytes) {
  const int fd = memfd_create("heapline-decode", MFD_CLOEXEC);
  EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  Replay result;
  try {
    TraceReader reader(path);
    LoggingVisitor visitor;
    reader.read(visitor);
    result = {visitor.log, reader.info()};
  } catch (...) {
    close(fd);
    throw;
  }
  close(fd);
  return result;
}

// TraceError from reading `bytes`, or a failure if it reads.
TraceError expect_error(const std::string& bytes) {
  try {
    replay(bytes);
  } catch (const TraceError& e) {
    return e;
  }
  ADD_FAILURE() << "read without error";
  return TraceError("", 0, "");
}

// One record of each kind, in the order a real trace starts, at ticks 100, 100, 101, 103, ...
Records every_kind() {
  Records r;
  r.kind(RecordKind::kProcess, 0).v(1234).v(1).str("/bin/x").v(2).str("x").str("-v");
  r.kind(RecordKind::kModuleLoad, 0).v(1).v(0x555500000000).str("/bin/x").str("\x01\xab")
      .v(2).v(0).v(0x1000).v(5).v(0x2000).v(0x180).v(6);
  r.kind(RecordKind::kStack, 1).v(7).v(3).v(0x555500001234).zz(0x10).zz(-0x20);
  r.kind(RecordKind::kAlloc, 2).u8(0).v(64).zz(0x10000).v(7);
  r.kind(RecordKind::kAlloc, 0).u8(9).v(32).zz(0x40).v(7);  // api 9: new, at 0x10040
  r.kind(RecordKind::kFree, 3).u8(11).zz(-0x40);             // free of 0x10000
  r.kind(RecordKind::kThreadName, 0).v(77).str("worker");
  r.kind(RecordKind::kRss, 1).v(1 << 20);
  r.kind(RecordKind::kLost, 0).v(3).v(4);
  r.kind(RecordKind::kModuleUnload, 0).v(1);
  r.kind(RecordKind::kExec, 0).str("/bin/y");  // decoded, not delivered
  r.kind(RecordKind::kFork, 0).v(999);         // decoded, not delivered
  r.kind(RecordKind::kExit, 1).u8(1).zz(-3);
  return r;
}

std::string at(uint64_t ticks) { return std::to_string(ticks << format::kTimeShift) + " "; }

const std::vector<std::string> kEveryKindLog = {
    at(100) + "process pid=1234 ppid=1 exe=/bin/x 'x' '-v'",
    at(100) + "module-load id=1 bias=555500000000 path=/bin/x build-id=1ab [0 1000 5] [2000 180 6]",
    at(101) + "stack tid=77 id=7 555500001234 555500001244 555500001224",
    at(103) + "alloc tid=77 api=malloc size=64 addr=10000 stack=7",
    at(103) + "alloc tid=77 api=new size=32 addr=10040 stack=7",
    at(106) + "free tid=77 api=free addr=10000",
    at(106) + "thread-name tid=77 worker",
    at(107) + "rss 1048576",
    at(107) + "lost 3 4",
    at(107) + "module-unload id=1",
    at(108) + "exit tid=77 exit -3",
};

TEST(TraceDecode, EveryRecordKindFromTheRing) {
  TraceBuilder t;
  t.ring_chunk(0, ChunkState::kOwned, 1, 77, 100, every_kind());
  const Replay r = replay(t.bytes());
  EXPECT_EQ(r.log, kEveryKindLog);
  EXPECT_EQ(r.info.ring_chunks, 1u);
  EXPECT_EQ(r.info.frames, 0u);
  EXPECT_FALSE(r.info.truncated);
}

TEST(TraceDecode, EveryRecordKindFromAFrame) {
  TraceBuilder t;
  t.frame(1, 77, 100, every_kind());
  const Replay r = replay(t.bytes());
  EXPECT_EQ(r.log, kEveryKindLog);
  EXPECT_EQ(r.info.frames, 1u);
  EXPECT_EQ(r.info.ring_chunks, 0u);
}

// A stream of two frames: the second frame decompresses only with the first one's zstd window,
// and its frees name blocks allocated in the first.
TEST(TraceDecode, FramesOfAStreamDecodeInOrderThroughOneStreamState) {
  TraceBuilder t;
  StreamCoder coder;
  StreamRecords a1, a2;
  a1.alloc(coder, 0, 0, 64, 0x5000, 1).alloc(coder, 1, 0, 32, 0x6000, 1);
  a2.free(coder, 5, 11, 0x5000).free(coder, 0, 11, 0x6000);
  t.stream_frame(1, 0, 7, 10, a1.payload());
  t.stream_frame(3, 1, 7, 20, a2.payload());
  const Replay r = replay(t.bytes());
  const std::vector<std::string> expect = {
      at(10) + "alloc tid=7 api=malloc size=64 addr=5000 stack=1",
      at(11) + "alloc tid=7 api=malloc size=32 addr=6000 stack=1",
      at(25) + "free tid=7 api=free addr=5000",
      at(25) + "free tid=7 api=free addr=6000",
  };
  EXPECT_EQ(r.log, expect);
  EXPECT_EQ(r.info.frames, 2u);
}

// The free codes of docs/trace-format.md: by age for the latest allocations, by ordinal delta
// for a sweep, by address for a block the stream never allocated.
TEST(TraceDecode, FreesNameTheirBlockByAgeOrdinalDeltaOrAddress) {
  TraceBuilder t;
  StreamCoder coder;
  StreamRecords s;
  for (uint64_t i = 0; i < 6; ++i) s.alloc(coder, 0, 0, 16 + i, 0x10000 + 0x100 * i, 2);
  s.free(coder, 0, 11, 0x10500);  // the latest: age 0
  EXPECT_EQ(s.last_free_code, 1u);
  s.free(coder, 0, 11, 0x10300);  // age 2
  EXPECT_EQ(s.last_free_code, 5u);
  s.free(coder, 0, 11, 0x10000);  // ordinal 1, age 5: delta 1 - 4 = -3, zz 5
  EXPECT_EQ(s.last_free_code, 2u * 5 + 2);
  s.free(coder, 0, 11, 0x10100);  // ordinal 2: delta +1, zz 2
  EXPECT_EQ(s.last_free_code, 2u * 2 + 2);
  s.free(coder, 0, 11, 0x99000);  // never allocated here
  EXPECT_EQ(s.last_free_code, format::kFreeByAddress);
  t.stream_frame(1, 0, 7, 10, s.payload());
  const Replay r = replay(t.bytes());
  ASSERT_EQ(r.log.size(), 11u);
  EXPECT_EQ(r.log[5], at(10) + "alloc tid=7 api=malloc size=21 addr=10500 stack=2");
  EXPECT_EQ(r.log[6], at(10) + "free tid=7 api=free addr=10500");
  EXPECT_EQ(r.log[7], at(10) + "free tid=7 api=free addr=10300");
  EXPECT_EQ(r.log[8], at(10) + "free tid=7 api=free addr=10000");
  EXPECT_EQ(r.log[9], at(10) + "free tid=7 api=free addr=10100");
  EXPECT_EQ(r.log[10], at(10) + "free tid=7 api=free addr=99000");
}

// Many full frames of one stream, as a real trace has them: the reader decodes allocations and
// frees away from a section's end without per-field bounds checks, and near it with them, so
// every field width (1- to 10-byte varints), every free code, and a teardown of frees only
// (whose frame has no sizes or addresses left) must give back exactly what was coded.
TEST(TraceDecode, LongStreamsDecodeEveryFieldWidthAndFreeCode) {
  TraceBuilder t;
  StreamCoder coder;
  std::mt19937_64 rng(2024);
  std::vector<std::string> expect;
  std::vector<uint64_t> live;
  uint64_t ticks = 1000, frame_ticks = ticks, seq = 0, top = 0x55d0c0de0000;
  auto wide = [&](unsigned max_bits) {  // a value of a random bit width, so every varint length
    const unsigned bits = static_cast<unsigned>(rng() % (max_bits + 1));
    return bits == 0 ? 0 : (rng() >> (64 - bits));
  };
  StreamRecords frame;
  auto flush = [&] {
    t.stream_frame(seq + 1, seq, 7, frame_ticks, frame.payload());
    ++seq;
    frame = StreamRecords{};
    frame_ticks = ticks;
  };
  auto room_left = [&] {
    return frame.records.bytes.size() + frame.sizes.bytes.size() + frame.addresses.bytes.size() <
           3 * TraceBuilder::kChunkSize;
  };
  auto free_one = [&](uint64_t dt, uint64_t address) {
    ticks += dt;
    const uint8_t api = rng() % 4 == 0 ? 11 : 15;
    frame.free(coder, dt, api, address);
    expect.push_back(at(ticks) + "free tid=7 api=" + api_name(static_cast<format::AllocApi>(api)) +
                     " addr=" + LoggingVisitor::hex(address));
  };
  for (int i = 0; i < 40000; ++i) {
    if (!room_left()) flush();
    const uint64_t dt = rng() % 8 == 0 ? wide(24) : 0;
    if (!live.empty() && rng() % 100 < 48) {
      // The latest block (by age), one of the last few, or any (ordinal delta, or by address
      // once out of the window's 4-way buckets); now and then a block never allocated here.
      const size_t pick = rng() % 3 == 0 ? live.size() - 1 - rng() % std::min<size_t>(3, live.size())
                                         : rng() % live.size();
      const uint64_t address = rng() % 50 == 0 ? 0x7f0000000000 + 16 * wide(30) : live[pick];
      if (address == live[pick]) {
        live[pick] = live.back();
        live.pop_back();
      }
      free_one(dt, address);
    } else {
      // A freed address again (the history's codes), or a new one near or far from the last.
      uint64_t address;
      if (rng() % 3 == 0 && !expect.empty()) {
        address = top - 16 * (rng() % 64);
      } else {
        top += rng() % 16 == 0 ? 16 * wide(40) : 16 * (1 + rng() % 8);
        address = top;
      }
      if (std::find(live.begin(), live.end(), address) != live.end()) continue;
      const uint64_t size = wide(63), stack = wide(32);
      const uint8_t api = static_cast<uint8_t>(rng() % 4);
      ticks += dt;
      frame.alloc(coder, dt, api, size, address, stack);
      live.push_back(address);
      expect.push_back(at(ticks) + "alloc tid=7 api=" +
                       api_name(static_cast<format::AllocApi>(api)) + " size=" +
                       std::to_string(size) + " addr=" + LoggingVisitor::hex(address) +
                       " stack=" + std::to_string(stack));
    }
  }
  flush();
  // Teardown: thousands of frees after the frame's last allocation.
  frame.alloc(coder, 0, 0, 8, 0x1000, 1);
  expect.push_back(at(ticks) + "alloc tid=7 api=malloc size=8 addr=1000 stack=1");
  for (const uint64_t address : live) {
    if (!room_left()) flush();
    free_one(rng() % 2, address);
  }
  flush();
  ASSERT_GT(seq, 20u);
  const Replay r = replay(t.bytes());
  ASSERT_EQ(r.log.size(), expect.size());
  for (size_t i = 0; i < expect.size(); ++i) ASSERT_EQ(r.log[i], expect[i]) << "record " << i;
}

// Two threads' streams whose records alternate in time, in runs of every length: the reader
// delivers a run of one chunk's records until the other's next record comes first (a fast loop
// that stops at the run's end), so each switch between threads must lose, repeat or reorder
// nothing, whether it falls on a record the fast loop decodes or on one it leaves to the rest.
TEST(TraceDecode, InterleavedStreamsMergeRecordByRecord) {
  TraceBuilder t;
  std::mt19937_64 rng(77);
  struct Thread {
    uint32_t tid;
    StreamCoder coder;
    StreamRecords frame;
    std::vector<uint64_t> live;
    uint64_t ticks = 0, frame_ticks = 0, last_seq = 0, top = 0;
  };
  std::vector<std::unique_ptr<Thread>> threads;
  for (uint32_t tid : {7u, 8u}) {
    threads.push_back(std::make_unique<Thread>());
    threads.back()->tid = tid;
    threads.back()->top = 0x7f0000000000ull * tid;
  }
  uint64_t seq = 0, clock = 1000;
  std::vector<std::pair<uint64_t, std::string>> expect;  // (ticks, line): distinct ticks
  auto flush = [&](Thread& th) {
    t.stream_frame(++seq, th.last_seq, th.tid, th.frame_ticks, th.frame.payload());
    th.last_seq = seq;
    th.frame = StreamRecords{};
  };
  for (int i = 0; i < 30000; ++i) {
    // Runs of 1 to ~100 records of one thread, then of the other; each record at its own tick.
    Thread& th = *threads[(i / (1 + (rng() % 3 == 0 ? rng() % 100 : 0))) % 2 == 0 ? 0 : 1];
    if (th.frame.records.bytes.size() > 2 * TraceBuilder::kChunkSize) flush(th);
    if (th.frame.records.bytes.empty()) th.frame_ticks = th.ticks;
    clock += 1 + rng() % 3;
    const uint64_t dt = clock - th.ticks;
    th.ticks = clock;
    const std::string who = "tid=" + std::to_string(th.tid);
    if (!th.live.empty() && rng() % 2 == 0) {
      const size_t pick = rng() % th.live.size();
      const uint64_t address = th.live[pick];
      th.live[pick] = th.live.back();
      th.live.pop_back();
      th.frame.free(th.coder, dt, 11, address);
      expect.emplace_back(clock, "free " + who + " api=free addr=" + LoggingVisitor::hex(address));
    } else {
      th.top += 16 * (1 + rng() % 8);
      const uint64_t size = rng() % 5000, stack = rng() % 300;
      th.frame.alloc(th.coder, dt, 0, size, th.top, stack);
      th.live.push_back(th.top);
      expect.emplace_back(clock, "alloc " + who + " api=malloc size=" + std::to_string(size) +
                                     " addr=" + LoggingVisitor::hex(th.top) +
                                     " stack=" + std::to_string(stack));
    }
  }
  for (auto& th : threads) flush(*th);
  const Replay r = replay(t.bytes());
  ASSERT_EQ(r.log.size(), expect.size());
  for (size_t i = 0; i < expect.size(); ++i)
    ASSERT_EQ(r.log[i], at(expect[i].first) + expect[i].second) << "record " << i;
}

// Corruption in the middle of a long frame (where fields are read without bounds checks) is
// found as at its end: a free code naming no block, an unknown allocation function, and a
// varint longer than 64 bits each stop the read with the frame's offset.
TEST(TraceDecode, CorruptionInsideALongFrameIsFound) {
  auto corrupt_after = [](int n, auto&& add_bad) {
    TraceBuilder t;
    StreamCoder coder;
    StreamRecords s;
    for (int i = 0; i < n; ++i) s.alloc(coder, 1, 0, 100 + i, 0x10000 + 32 * i, 3);
    add_bad(s.records);
    for (int i = 0; i < n; ++i) s.free(coder, 1, 11, 0x10000 + 32 * i);
    const uint64_t at_frame = t.stream_frame(1, 0, 7, 10, s.payload());
    const TraceError e = expect_error(t.bytes());
    EXPECT_EQ(e.offset(), at_frame);
    return std::string(e.what());
  };
  std::string what = corrupt_after(200, [](Records& r) {
    r.kind(RecordKind::kFree, 0).u8(11).v(2 * 500 + 1);  // age 500: only 200 allocations
  });
  EXPECT_NE(what.find("past the end"), std::string::npos) << what;
  what = corrupt_after(200, [](Records& r) { r.kind(RecordKind::kFree, 0).u8(200).v(1); });
  EXPECT_NE(what.find("unknown allocation function"), std::string::npos) << what;
  what = corrupt_after(200, [](Records& r) {
    r.kind(RecordKind::kFree, 0).u8(11);
    for (int i = 0; i < 9; ++i) r.u8(0xff);
    r.u8(0x02);  // a 10th byte above 1: more than 64 bits
  });
  EXPECT_NE(what.find("past the end"), std::string::npos) << what;
}

TEST(TraceDecode, AFreeCodeNamingNoAllocationIsAnError) {
  TraceBuilder t;
  StreamCoder coder;
  StreamRecords s;
  s.alloc(coder, 0, 0, 16, 0x5000, 1);
  s.records.kind(RecordKind::kFree, 0).u8(11).v(2 * 1 + 1);  // age 1: only one allocation
  const uint64_t at_frame = t.stream_frame(1, 0, 7, 10, s.payload());
  const TraceError e = expect_error(t.bytes());
  EXPECT_NE(std::string(e.what()).find("decompressed frame"), std::string::npos) << e.what();
  EXPECT_EQ(e.offset(), at_frame);
}

TEST(TraceDecode, SectionLengthsBeyondTheFrameAreAnError) {
  TraceBuilder t;
  Records bad;
  bad.v(100).v(0).u8(1);  // 100 record bytes announced, one present
  const uint64_t at_frame = t.stream_frame(1, 0, 7, 10, bad);
  const TraceError e = expect_error(t.bytes());
  EXPECT_NE(std::string(e.what()).find("section lengths"), std::string::npos) << e.what();
  EXPECT_EQ(e.offset(), at_frame);
}

TEST(TraceDecode, AFrameWhoseStreamPredecessorIsMissingIsAnError) {
  TraceBuilder t;
  StreamCoder coder;
  StreamRecords a;
  a.alloc(coder, 0, 0, 64, 0x5000, 1);
  const uint64_t at_frame = t.stream_frame(5, 4, 7, 10, a.payload());  // continues frame 4: not in the file
  const TraceError e = expect_error(t.bytes());
  EXPECT_NE(std::string(e.what()).find("continues a stream whose frame 4 is missing"),
            std::string::npos) << e.what();
  EXPECT_EQ(e.offset(), at_frame);
}

TEST(TraceDecode, TimeShiftZeroMeansNanoseconds) {
  TraceBuilder t;
  t.put<uint32_t>(offsetof(FileHeader, time_shift), 0);
  Records r;
  r.kind(RecordKind::kRss, 5).v(1);
  t.ring_chunk(0, ChunkState::kOwned, 1, 1, 1000, r);
  EXPECT_EQ(replay(t.bytes()).log, std::vector<std::string>{"1005 rss 1"});
}

TEST(TraceDecode, AddressDeltasRestartInEachChunk) {
  // Same thread, two chunks: the second chunk's first address is relative to 0 again.
  TraceBuilder t;
  Records a, b;
  a.kind(RecordKind::kAlloc, 0).u8(0).v(8).zz(0x7000).v(1);
  b.kind(RecordKind::kFree, 0).u8(11).zz(0x7000);
  t.frame(1, 5, 10, a);
  t.ring_chunk(2, ChunkState::kOwned, 2, 5, 11, b);
  EXPECT_EQ(replay(t.bytes()).log,
            (std::vector<std::string>{at(10) + "alloc tid=5 api=malloc size=8 addr=7000 stack=1",
                                      at(11) + "free tid=5 api=free addr=7000"}));
}

TEST(TraceDecode, ChunksMergeByTimeAndFreesComeFirstAtEqualTime) {
  // Thread 1 (seq 1) allocates at ticks 10 and 20; thread 2 (seq 2) frees 0x5000 at 20, and
  // thread 1's allocation at 20 reuses it: the free must come first despite the higher seq.
  TraceBuilder t;
  Records one, two;
  one.kind(RecordKind::kAlloc, 0).u8(0).v(16).zz(0x4000).v(1);
  one.kind(RecordKind::kAlloc, 10).u8(0).v(16).zz(0x1000).v(1);
  two.kind(RecordKind::kAlloc, 0).u8(0).v(16).zz(0x5000).v(1);
  two.kind(RecordKind::kFree, 5).u8(11).zz(0);
  t.frame(1, 1, 10, one);
  t.ring_chunk(1, ChunkState::kOwned, 2, 2, 15, two);
  EXPECT_EQ(replay(t.bytes()).log,
            (std::vector<std::string>{at(10) + "alloc tid=1 api=malloc size=16 addr=4000 stack=1",
                                      at(15) + "alloc tid=2 api=malloc size=16 addr=5000 stack=1",
                                      at(20) + "free tid=2 api=free addr=5000",
                                      at(20) + "alloc tid=1 api=malloc size=16 addr=5000 stack=1"}));
}

TEST(TraceDecode, ChunksOfOneThreadAreNeverReordered) {
  // One thread: realloc's new block at the end of chunk seq 1, and its free at the start of
  // chunk seq 2, in the same tick. The tie rule applies only between threads: program order wins.
  TraceBuilder t;
  Records older, newer;
  older.kind(RecordKind::kAlloc, 0).u8(2).v(16).zz(0x9000).v(1);
  newer.kind(RecordKind::kFree, 0).u8(11).zz(0x9000);
  t.frame(1, 3, 30, older);
  t.ring_chunk(0, ChunkState::kOwned, 2, 3, 30, newer);
  EXPECT_EQ(replay(t.bytes()).log,
            (std::vector<std::string>{at(30) + "alloc tid=3 api=realloc size=16 addr=9000 stack=1",
                                      at(30) + "free tid=3 api=free addr=9000"}));
}

TEST(TraceDecode, AtEqualTimeAndKindLowerSeqFirst) {
  TraceBuilder t;
  Records a, b;
  a.kind(RecordKind::kRss, 0).v(1);
  b.kind(RecordKind::kRss, 0).v(2);
  t.ring_chunk(0, ChunkState::kOwned, 9, 1, 50, a);
  t.ring_chunk(3, ChunkState::kOwned, 4, 2, 50, b);
  EXPECT_EQ(replay(t.bytes()).log, (std::vector<std::string>{at(50) + "rss 2", at(50) + "rss 1"}));
}

TEST(TraceDecode, ChunkInAFrameAndStillSealedInTheRingIsReadOnce) {
  TraceBuilder t;
  Records r;
  r.kind(RecordKind::kRss, 0).v(42);
  t.frame(3, 1, 10, r);
  t.ring_chunk(0, ChunkState::kSealed, 3, 1, 10, r);  // crash between frame write and free
  t.ring_chunk(1, ChunkState::kFree, 2, 1, 5, r);     // drained long ago: never read
  const Replay replayed = replay(t.bytes());
  EXPECT_EQ(replayed.log, std::vector<std::string>{at(10) + "rss 42"});
  EXPECT_EQ(replayed.info.frames, 1u);
  EXPECT_EQ(replayed.info.ring_chunks, 0u);
}

TEST(TraceDecode, ChunkMagicMissingMeansNeverUsed) {
  TraceBuilder t;
  Records r;
  r.kind(RecordKind::kRss, 0).v(42);
  t.ring_chunk(0, ChunkState::kOwned, 1, 1, 10, r);
  t.put<uint32_t>(TraceBuilder::chunk_offset(0), 0);  // acquisition stopped before the magic
  EXPECT_TRUE(replay(t.bytes()).log.empty());
}

TEST(TraceDecode, CorruptRecordInTheRingNamesItsFileOffset) {
  TraceBuilder t;
  Records r;
  r.kind(RecordKind::kRss, 0).v(42);
  r.u8(0x63).v(0);  // kind 99
  t.ring_chunk(2, ChunkState::kOwned, 1, 1, 10, r);
  const TraceError e = expect_error(t.bytes());
  EXPECT_EQ(e.offset(), TraceBuilder::chunk_offset(2) + sizeof(ChunkHeader) + 3);
  EXPECT_NE(std::string(e.what()).find("unknown record kind"), std::string::npos) << e.what();
}

TEST(TraceDecode, CorruptRecordInAFrameNamesTheFrame) {
  TraceBuilder t;
  Records good, bad;
  good.kind(RecordKind::kRss, 0).v(1);
  bad.kind(RecordKind::kRss, 0).v(42);
  bad.kind(RecordKind::kAlloc, 0).u8(200).v(8).zz(8).v(1);  // no such allocation function
  t.frame(1, 1, 10, good);
  const uint64_t frame = t.frame(2, 1, 20, bad);
  const TraceError e = expect_error(t.bytes());
  EXPECT_EQ(e.offset(), frame);
  EXPECT_NE(std::string(e.what()).find("at byte 3 of the decompressed frame"), std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find("unknown allocation function"), std::string::npos)
      << e.what();
}

TEST(TraceDecode, RecordPastTheEndOfAWholeChunkIsCorrupt) {
  TraceBuilder t;
  Records r;
  r.kind(RecordKind::kRss, 0).v(42);
  r.kind(RecordKind::kAlloc, 0).u8(0).v(8);  // `used` says the chunk ends here, mid-record
  t.ring_chunk(0, ChunkState::kSealed, 1, 1, 10, r);
  const TraceError e = expect_error(t.bytes());
  EXPECT_NE(std::string(e.what()).find("past the end"), std::string::npos) << e.what();
}

TEST(TraceDecode, CorruptChunkHeaderFields) {
  Records r;
  r.kind(RecordKind::kRss, 0).v(42);
  {
    TraceBuilder t;
    t.ring_chunk(1, static_cast<ChunkState>(7), 1, 1, 10, r);
    const TraceError e = expect_error(t.bytes());
    EXPECT_EQ(e.offset(), TraceBuilder::chunk_offset(1) + offsetof(ChunkHeader, state));
  }
  {
    TraceBuilder t;
    t.ring_chunk(1, ChunkState::kOwned, 1, 1, 10, r);
    t.put<uint32_t>(TraceBuilder::chunk_offset(1) + offsetof(ChunkHeader, used),
                    TraceBuilder::kChunkSize);  // more than fits after the ChunkHeader
    const TraceError e = expect_error(t.bytes());
    EXPECT_EQ(e.offset(), TraceBuilder::chunk_offset(1) + offsetof(ChunkHeader, used));
  }
}

TEST(TraceDecode, CorruptFrames) {
  Records r;
  r.kind(RecordKind::kRss, 0).v(42);
  {
    TraceBuilder t;
    const uint64_t frame = t.frame(1, 1, 10, r);
    t.bytes()[frame + offsetof(FrameHeader, seq)] ^= 1;
    const TraceError e = expect_error(t.bytes());
    EXPECT_EQ(e.offset(), frame);
    EXPECT_NE(std::string(e.what()).find("corrupt compressed frame header"), std::string::npos);
  }
  {
    TraceBuilder t;
    const uint64_t frame = t.frame(1, 1, 10, r);
    t.bytes().back() ^= 1;  // zstd's content checksum
    const TraceError e = expect_error(t.bytes());
    EXPECT_EQ(e.offset(), frame + sizeof(FrameHeader));
    EXPECT_NE(std::string(e.what()).find("corrupt compressed frame"), std::string::npos);
  }
}

TEST(TraceDecode, InconsistentFileHeaders) {
  const auto refused = [](auto mutate) {
    TraceBuilder t;
    mutate(t);
    const TraceError e = expect_error(t.bytes());
    return std::string(e.what()).find("inconsistent file header") != std::string::npos;
  };
  EXPECT_TRUE(refused([](TraceBuilder& t) { t.put<uint32_t>(offsetof(FileHeader, time_shift), 31); }));
  EXPECT_TRUE(refused([](TraceBuilder& t) { t.put<uint32_t>(offsetof(FileHeader, chunk_count), 0); }));
  EXPECT_TRUE(refused([](TraceBuilder& t) { t.put<uint32_t>(offsetof(FileHeader, chunk_size), 1024); }));
  // 4100 x 4 chunks, data_offset to match: consistent sizes, but chunk 1 would be misaligned.
  EXPECT_TRUE(refused([](TraceBuilder& t) {
    t.put<uint32_t>(offsetof(FileHeader, chunk_size), 4100);
    t.put<uint64_t>(offsetof(FileHeader, data_offset), 4096 + 4 * 4100);
    t.bytes().resize(4096 + 4 * 4100);
    t.put<uint64_t>(offsetof(FileHeader, data_end), 4096 + 4 * 4100);
  }));
  EXPECT_TRUE(refused([](TraceBuilder& t) { t.put<uint64_t>(offsetof(FileHeader, data_offset), 8192); }));
  EXPECT_TRUE(refused([](TraceBuilder& t) { t.put<uint32_t>(offsetof(FileHeader, header_size), 80); }));
}

}  // namespace
}  // namespace heapline::analysis
