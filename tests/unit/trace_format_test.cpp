// The encoding primitives of include/heapline/trace_format.h, which writer and reader share:
// varint and zigzag round trips, the bounds of the decoding Cursor (it must stop cleanly on any
// truncated or malformed input), the frame header checksum, and the byte layout that
// docs/trace-format.md promises.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "heapline/stream_coding.h"
#include "heapline/trace_format.h"

namespace heapline::format {
namespace {

// The offsets docs/trace-format.md gives. A change here is a format change: bump kVersion.
static_assert(offsetof(FileHeader, magic) == 0);
static_assert(offsetof(FileHeader, version) == 8);
static_assert(offsetof(FileHeader, header_size) == 12);
static_assert(offsetof(FileHeader, chunk_size) == 16);
static_assert(offsetof(FileHeader, chunk_count) == 20);
static_assert(offsetof(FileHeader, ring_offset) == 24);
static_assert(offsetof(FileHeader, data_offset) == 32);
static_assert(offsetof(FileHeader, data_end) == 40);
static_assert(offsetof(FileHeader, pid) == 48);
static_assert(offsetof(FileHeader, ppid) == 52);
static_assert(offsetof(FileHeader, start_realtime_ns) == 56);
static_assert(offsetof(FileHeader, start_monotonic_ns) == 64);
static_assert(offsetof(FileHeader, flags) == 72);
static_assert(offsetof(FileHeader, time_shift) == 76);
static_assert(offsetof(FileHeader, sample_bytes) == 80);
static_assert(sizeof(FileHeader) == 88);
static_assert(offsetof(ChunkHeader, magic) == 0);
static_assert(offsetof(ChunkHeader, state) == 4);
static_assert(offsetof(ChunkHeader, seq) == 8);
static_assert(offsetof(ChunkHeader, tid) == 16);
static_assert(offsetof(ChunkHeader, used) == 20);
static_assert(offsetof(ChunkHeader, base_time) == 24);
static_assert(offsetof(ChunkHeader, reserved) == 32);
static_assert(offsetof(FrameHeader, magic) == 0);
static_assert(offsetof(FrameHeader, tid) == 4);
static_assert(offsetof(FrameHeader, seq) == 8);
static_assert(offsetof(FrameHeader, base_time) == 16);
static_assert(offsetof(FrameHeader, raw_size) == 24);
static_assert(offsetof(FrameHeader, compressed_size) == 28);
static_assert(offsetof(FrameHeader, prev_seq) == 32);
static_assert(offsetof(FrameHeader, flags) == 40);
static_assert(offsetof(FrameHeader, header_checksum) == 44);
static_assert(sizeof(FrameHeader) == 48);

std::vector<uint8_t> encode(uint64_t v) {
  std::vector<uint8_t> out(kMaxVarintSize + 1, 0xEE);
  const uint8_t* end = put_varint(out.data(), v);
  out.resize(static_cast<size_t>(end - out.data()));
  return out;
}

Cursor cursor_over(const std::vector<uint8_t>& bytes) {
  return Cursor{bytes.data(), bytes.data() + bytes.size()};
}

// Every power of two and its neighbours, plus the extremes: every encoded length 1..10.
std::vector<uint64_t> interesting_values() {
  std::vector<uint64_t> values = {0, 1, 0x7f, 0x80, 0x3fff, 0x4000,
                                  std::numeric_limits<uint64_t>::max()};
  for (int bit = 0; bit < 64; ++bit) {
    const uint64_t p = uint64_t{1} << bit;
    values.insert(values.end(), {p - 1, p, p + 1});
  }
  return values;
}

TEST(Varint, RoundTripsAndHasTheLeb128Length) {
  for (const uint64_t v : interesting_values()) {
    const std::vector<uint8_t> bytes = encode(v);
    int bits = 1;
    while (bits < 64 && (v >> bits) != 0) ++bits;
    EXPECT_EQ(bytes.size(), static_cast<size_t>((bits + 6) / 7)) << v;
    EXPECT_LE(bytes.size(), kMaxVarintSize);
    Cursor c = cursor_over(bytes);
    EXPECT_EQ(c.varint(), v);
    EXPECT_TRUE(c.ok);
    EXPECT_EQ(c.remaining(), 0u);
  }
}

TEST(Varint, KnownEncodings) {
  EXPECT_EQ(encode(0), (std::vector<uint8_t>{0x00}));
  EXPECT_EQ(encode(127), (std::vector<uint8_t>{0x7f}));
  EXPECT_EQ(encode(128), (std::vector<uint8_t>{0x80, 0x01}));
  EXPECT_EQ(encode(300), (std::vector<uint8_t>{0xac, 0x02}));
  EXPECT_EQ(encode(std::numeric_limits<uint64_t>::max()),
            (std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
}

TEST(Varint, EveryTruncationFails) {
  for (const uint64_t v : interesting_values()) {
    const std::vector<uint8_t> bytes = encode(v);
    for (size_t n = 0; n < bytes.size(); ++n) {
      const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
      Cursor c = cursor_over(cut);
      EXPECT_EQ(c.varint(), 0u);
      EXPECT_FALSE(c.ok) << v << " cut to " << n;
      EXPECT_EQ(c.remaining(), 0u);
    }
  }
}

TEST(Varint, MoreThanTenBytesFails) {
  for (size_t n = 11; n <= 16; ++n) {
    std::vector<uint8_t> bytes(n, 0x80);
    bytes.back() = 0x00;
    Cursor c = cursor_over(bytes);
    EXPECT_EQ(c.varint(), 0u);
    EXPECT_FALSE(c.ok) << n;
  }
}

TEST(Varint, TenthByteBeyondBit63Fails) {
  // 2^64 and up do not fit: the 10th byte may only be 0 or 1.
  for (const uint8_t last : {0x02, 0x03, 0x7f}) {
    std::vector<uint8_t> bytes(9, 0xff);
    bytes.push_back(last);
    Cursor c = cursor_over(bytes);
    EXPECT_EQ(c.varint(), 0u);
    EXPECT_FALSE(c.ok) << int{last};
  }
}

TEST(Varint, NonMinimalEncodingWithinTenBytesIsAccepted) {
  // The writer never produces these; the reader tolerates them (documented in the spec).
  const std::vector<uint8_t> zero_in_two = {0x80, 0x00};
  Cursor c = cursor_over(zero_in_two);
  EXPECT_EQ(c.varint(), 0u);
  EXPECT_TRUE(c.ok);
  const std::vector<uint8_t> one_in_ten = {0x81, 0x80, 0x80, 0x80, 0x80,
                                           0x80, 0x80, 0x80, 0x80, 0x00};
  Cursor d = cursor_over(one_in_ten);
  EXPECT_EQ(d.varint(), 1u);
  EXPECT_TRUE(d.ok);
}

TEST(Zigzag, RoundTripsAndKeepsSmallMagnitudesShort) {
  const int64_t min = std::numeric_limits<int64_t>::min();
  const int64_t max = std::numeric_limits<int64_t>::max();
  for (const int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, int64_t{-64}, int64_t{63},
                          int64_t{-65}, int64_t{64}, min, min + 1, max, max - 1}) {
    EXPECT_EQ(unzigzag(zigzag(v)), v);
  }
  EXPECT_EQ(zigzag(0), 0u);
  EXPECT_EQ(zigzag(-1), 1u);
  EXPECT_EQ(zigzag(1), 2u);
  EXPECT_EQ(zigzag(-2), 3u);
  EXPECT_EQ(zigzag(max), std::numeric_limits<uint64_t>::max() - 1);
  EXPECT_EQ(zigzag(min), std::numeric_limits<uint64_t>::max());
  // |delta| < 64 fits in one byte: why addresses and frames are written as deltas.
  for (int64_t v = -64; v < 64; ++v) EXPECT_EQ(encode(zigzag(v)).size(), 1u) << v;
  EXPECT_EQ(encode(zigzag(64)).size(), 2u);
}

TEST(Zigzag, AddressDeltasWrapLikeTheWriter) {
  // The writer encodes zigzag(int64(address - previous)) in uint64 arithmetic; the reader adds
  // the decoded delta back modulo 2^64. Any pair of addresses round-trips, however far apart.
  const uint64_t addresses[] = {0, 1, 0x7fffffffffffull, 0xffff800000000000ull,
                                std::numeric_limits<uint64_t>::max(), 0x8000000000000000ull};
  for (const uint64_t a : addresses) {
    for (const uint64_t b : addresses) {
      const std::vector<uint8_t> bytes = encode(zigzag(static_cast<int64_t>(b - a)));
      Cursor c = cursor_over(bytes);
      EXPECT_EQ(a + static_cast<uint64_t>(unzigzag(c.varint())), b);
      EXPECT_TRUE(c.ok);
    }
  }
}

TEST(Cursor, ByteAndStrStopAtTheEnd) {
  const std::vector<uint8_t> one = {0x2a};
  Cursor c = cursor_over(one);
  EXPECT_EQ(c.byte(), 0x2a);
  EXPECT_TRUE(c.ok);
  EXPECT_EQ(c.byte(), 0);
  EXPECT_FALSE(c.ok);

  // Length 5, only 4 bytes follow.
  const std::vector<uint8_t> short_str = {0x05, 'a', 'b', 'c', 'd'};
  Cursor s = cursor_over(short_str);
  EXPECT_TRUE(s.str().empty());
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.remaining(), 0u);

  // A length that is itself a truncated varint.
  const std::vector<uint8_t> torn_length = {0x85};
  Cursor t = cursor_over(torn_length);
  EXPECT_TRUE(t.str().empty());
  EXPECT_FALSE(t.ok);

  // A huge length must not wrap the pointer arithmetic.
  std::vector<uint8_t> huge = encode(std::numeric_limits<uint64_t>::max());
  huge.push_back('x');
  Cursor h = cursor_over(huge);
  EXPECT_TRUE(h.str(std::numeric_limits<size_t>::max()).empty());
  EXPECT_FALSE(h.ok);
}

TEST(Cursor, StrRoundTripsAndHonoursMaxLen) {
  const std::vector<uint8_t> bytes = {0x03, 'a', 'b', 'c', 0x00, 0x02, 'x', 'y'};
  Cursor c = cursor_over(bytes);
  EXPECT_EQ(c.str(), "abc");
  EXPECT_EQ(c.str(), "");
  EXPECT_TRUE(c.ok);
  EXPECT_EQ(c.str(1), "");  // "xy" is longer than allowed
  EXPECT_FALSE(c.ok);
}

TEST(Cursor, StaysFailedAfterTheFirstError) {
  const std::vector<uint8_t> bytes = {0x80};  // torn varint, then nothing
  Cursor c = cursor_over(bytes);
  c.varint();
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.varint(), 0u);
  EXPECT_EQ(c.byte(), 0u);
  EXPECT_TRUE(c.str().empty());
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.remaining(), 0u);
}

TEST(Cursor, EmptyInput) {
  Cursor c{nullptr, nullptr};
  EXPECT_EQ(c.remaining(), 0u);
  EXPECT_EQ(c.varint(), 0u);
  EXPECT_FALSE(c.ok);
}

FrameHeader sample_frame_header() {
  FrameHeader h{};
  h.magic = kFrameMagic;
  h.tid = 4242;
  h.seq = 17;
  h.base_time = 123456789;
  h.raw_size = 4000;
  h.compressed_size = 812;
  h.prev_seq = 16;
  h.flags = kFrameStreamCoded;
  h.header_checksum = frame_header_checksum(h);
  return h;
}

TEST(FrameHeaderChecksum, DetectsEveryFlippedByteItCovers) {
  const FrameHeader good = sample_frame_header();
  ASSERT_EQ(good.header_checksum, frame_header_checksum(good));
  for (size_t i = 0; i < offsetof(FrameHeader, header_checksum); ++i) {
    for (const uint8_t mask : {0x01, 0x80, 0xff}) {
      FrameHeader bad = good;
      reinterpret_cast<uint8_t*>(&bad)[i] ^= mask;
      EXPECT_NE(frame_header_checksum(bad), good.header_checksum) << "byte " << i;
    }
  }
}

TEST(FrameHeaderChecksum, IgnoresItself) {
  FrameHeader h = sample_frame_header();
  const uint32_t sum = h.header_checksum;
  h.header_checksum = 0;
  EXPECT_EQ(frame_header_checksum(h), sum);
}

// --- AddressHistory: the drain's encoder and the reader's decoder must agree on every sequence ---

std::vector<uint64_t> round_trip(const std::vector<uint64_t>& addresses, std::vector<uint8_t>* bytes) {
  static AddressHistoryEncoder writer;  // 128 KiB: not on the stack
  static AddressHistory reader;
  writer.reset();
  reader.reset();
  bytes->assign(addresses.size() * (kMaxVarintSize + 1), 0);
  uint8_t* q = bytes->data();
  for (uint64_t a : addresses) q = writer.encode(q, a);
  bytes->resize(static_cast<size_t>(q - bytes->data()));
  Cursor c = cursor_over(*bytes);
  std::vector<uint64_t> decoded;
  uint64_t a = 0;
  while (c.remaining() && reader.decode(c, a)) decoded.push_back(a);
  EXPECT_TRUE(c.ok);
  return decoded;
}

TEST(AddressHistory, ARepeatIsItsDistanceBackAndANewAddressADelta) {
  std::vector<uint8_t> bytes;
  const std::vector<uint64_t> in = {0x1000, 0x2000, 0x1000, 0x1000, 0x3000, 0x2000};
  EXPECT_EQ(round_trip(in, &bytes), in);
  // 0x1000 new (0, zz 0x1000), 0x2000 new (0, zz 0x1000), 0x1000 two back, then one back,
  // 0x3000 new (0, zz 0x1000 against 0x2000), 0x2000 four back.
  const std::vector<uint8_t> expect = {0, 0x80, 0x40, 0, 0x80, 0x40, 2, 1, 0, 0x80, 0x40, 4};
  EXPECT_EQ(bytes, expect);
}

TEST(AddressHistory, AnAddressOlderThanTheWindowIsNewAgain) {
  std::vector<uint64_t> in;
  for (uint64_t i = 0; i < AddressHistory::kWindow; ++i) in.push_back(0x10000 + 16 * i);
  in.push_back(0x90000);           // one more new address
  in.push_back(0x10000 + 16 * 1);  // kWindow back: the oldest that can be named
  in.push_back(0x10000);           // kWindow + 2 back: new again
  std::vector<uint8_t> bytes;
  EXPECT_EQ(round_trip(in, &bytes), in);
  Cursor c = cursor_over(bytes);
  AddressHistory reader;
  uint64_t a = 0;
  for (size_t i = 0; i < in.size() - 2; ++i) reader.decode(c, a);
  EXPECT_EQ(c.varint(), AddressHistory::kWindow);
  EXPECT_EQ(c.byte(), 0) << "an address out of the window must be coded as new";
}

TEST(AddressHistory, RandomSequencesRoundTrip) {
  uint64_t state = 12345;
  std::vector<uint64_t> in;
  for (int i = 0; i < 200000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    // 20 000 addresses: hits inside the window, misses beyond it, and hash collisions.
    in.push_back(0x7f0000000000ull + ((state >> 33) % 20000) * 32);
  }
  std::vector<uint8_t> bytes;
  EXPECT_EQ(round_trip(in, &bytes), in);
}

TEST(AddressHistory, ACodeBeyondTheHistoryIsAnError) {
  AddressHistory reader;
  const std::vector<uint8_t> bytes = {0, 2, 2};  // one address known, then "two back"
  Cursor c = cursor_over(bytes);
  uint64_t a = 0;
  EXPECT_TRUE(reader.decode(c, a));
  EXPECT_FALSE(reader.decode(c, a));
  EXPECT_FALSE(c.ok);
}

// --- BlockOrdinals: a free's code must name the very address the drain saw ---

TEST(BlockOrdinals, RandomAllocFreeSequencesRoundTrip) {
  static std::vector<uint64_t> dec_ring(kOrdinalWindow);
  static std::vector<BlockOrdinalsEncoder::Slot> slots(kOrdinalWindow);
  BlockOrdinalsEncoder writer(slots.data());
  BlockOrdinals reader(dec_ring.data());
  uint64_t state = 99;
  std::vector<uint64_t> live, freed;
  uint64_t next_new = 0x7f0000000000ull;
  size_t by_ordinal = 0, frees = 0;
  for (int round = 0; round < 2; ++round) {  // the second stream starts where the first ended
    writer.reset();
    reader.reset();
    live.clear();
    for (int i = 0; i < 300000; ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      if (live.empty() || (state >> 60) < 9) {
        // Like an allocator: a freed address comes back (LIFO, or one further down), else a
        // new one; up to ~100 000 live blocks share the 65 536 buckets.
        uint64_t a;
        if (!freed.empty() && (state >> 56) & 1) {
          const size_t k = freed.size() - 1 - ((state >> 40) % std::min<size_t>(freed.size(), 8));
          a = freed[k];
          freed.erase(freed.begin() + static_cast<std::ptrdiff_t>(k));
        } else {
          a = next_new += 48;
        }
        writer.on_alloc(a);
        reader.on_alloc(a);
        live.push_back(a);
      } else {
        const size_t k = (state >> 24) % live.size();
        const uint64_t a = live[k];
        live[k] = live.back();
        live.pop_back();
        freed.push_back(a);
        const uint64_t code = writer.free_code(a);
        ++frees;
        if (code == kFreeByAddress) continue;  // the address goes through AddressHistory
        ++by_ordinal;
        uint64_t decoded = 0;
        ASSERT_TRUE(reader.decode_free(code, decoded)) << "code " << code;
        ASSERT_EQ(decoded, a);
      }
    }
  }
  EXPECT_GT(by_ordinal, frees * 9 / 10) << "nearly every free of a live block is named by ordinal";
}

TEST(BlockOrdinals, ACodeOutsideTheWindowOrBeforeTheFirstIsRefused) {
  static std::vector<uint64_t> ring(kOrdinalWindow);
  BlockOrdinals reader(ring.data());
  reader.reset();
  uint64_t a = 0;
  EXPECT_FALSE(reader.decode_free(1, a)) << "age 0 with no allocation";
  reader.on_alloc(0x1000);
  EXPECT_TRUE(reader.decode_free(1, a));
  EXPECT_EQ(a, 0x1000u);
  EXPECT_FALSE(reader.decode_free(3, a)) << "age 1 with one allocation";
  EXPECT_FALSE(reader.decode_free(2 + 2 * zigzag(1), a)) << "ordinal 2 is not allocated yet";
  EXPECT_FALSE(reader.decode_free(2 + 2 * zigzag(-1), a)) << "ordinal 0 does not exist";
}

TEST(SkipRecordFields, StepsOverEachKindExactly) {
  // One record of each kind as the recorder writes it, then a sentinel byte.
  std::vector<uint8_t> b;
  auto v = [&b](uint64_t x) {
    uint8_t tmp[kMaxVarintSize];
    b.insert(b.end(), tmp, put_varint(tmp, x));
  };
  auto str = [&](std::string_view s) {
    v(s.size());
    b.insert(b.end(), s.begin(), s.end());
  };
  struct Case {
    RecordKind kind;
    size_t begin, end;
  };
  std::vector<Case> cases;
  auto start = [&](RecordKind k) { cases.push_back({k, b.size(), 0}); };
  auto done = [&] { cases.back().end = b.size(); };
  start(RecordKind::kAlloc); b.push_back(0); v(300); v(zigzag(-64)); v(7); done();
  start(RecordKind::kFree); b.push_back(11); v(zigzag(64)); done();
  start(RecordKind::kStack); v(9); v(3); v(0x401000); v(zigzag(-5)); v(zigzag(900)); done();
  start(RecordKind::kModuleLoad); v(2); v(0x7f00); str("/lib/libc.so.6"); str("\x01\x02"); v(2);
  v(0); v(4096); v(5); v(8192); v(100); v(4); done();
  start(RecordKind::kModuleUnload); v(2); done();
  start(RecordKind::kProcess); v(100); v(1); str("/bin/true"); v(2); str("true"); str("--x"); done();
  start(RecordKind::kThreadName); v(101); str("worker"); done();
  start(RecordKind::kRss); v(1 << 20); done();
  start(RecordKind::kExit); b.push_back(1); v(zigzag(3)); done();
  start(RecordKind::kExec); str("/bin/sh"); done();
  start(RecordKind::kFork); v(4242); done();
  start(RecordKind::kLost); v(1); v(2); done();
  b.push_back(0xAB);
  for (const Case& k : cases) {
    Cursor c{b.data() + k.begin, b.data() + b.size()};
    skip_record_fields(c, k.kind);
    ASSERT_TRUE(c.ok) << static_cast<int>(k.kind);
    EXPECT_EQ(static_cast<size_t>(c.p - b.data()), k.end) << static_cast<int>(k.kind);
  }
  Cursor bad{b.data(), b.data() + b.size()};
  skip_record_fields(bad, static_cast<RecordKind>(0));
  EXPECT_FALSE(bad.ok);
}

TEST(FileHeader, MagicCheck) {
  FileHeader h{};
  EXPECT_FALSE(header_is_valid(h));
  std::memcpy(h.magic, kFileMagic, sizeof h.magic);
  EXPECT_TRUE(header_is_valid(h));
  h.magic[7] ^= 1;
  EXPECT_FALSE(header_is_valid(h));
}

TEST(RecordKinds, NumberingIsStable) {
  // Kinds are never renumbered or reused (see "Versioning" in docs/trace-format.md).
  EXPECT_EQ(static_cast<int>(RecordKind::kAlloc), 1);
  EXPECT_EQ(static_cast<int>(RecordKind::kFree), 2);
  EXPECT_EQ(static_cast<int>(RecordKind::kStack), 3);
  EXPECT_EQ(static_cast<int>(RecordKind::kModuleLoad), 4);
  EXPECT_EQ(static_cast<int>(RecordKind::kModuleUnload), 5);
  EXPECT_EQ(static_cast<int>(RecordKind::kProcess), 6);
  EXPECT_EQ(static_cast<int>(RecordKind::kThreadName), 7);
  EXPECT_EQ(static_cast<int>(RecordKind::kRss), 8);
  EXPECT_EQ(static_cast<int>(RecordKind::kExit), 9);
  EXPECT_EQ(static_cast<int>(RecordKind::kExec), 10);
  EXPECT_EQ(static_cast<int>(RecordKind::kFork), 11);
  EXPECT_EQ(static_cast<int>(RecordKind::kLost), 12);
  EXPECT_EQ(kMaxRecordKind, 12);
  EXPECT_EQ(static_cast<int>(AllocApi::kCount), 16);
}

}  // namespace
}  // namespace heapline::format
