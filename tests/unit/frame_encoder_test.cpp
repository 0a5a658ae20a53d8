// The drain's FrameEncoder against the spec's decoding (stream_coding.h's reader side, zstd
// streaming): chunks of records of every shape the recoder parses ahead in batches (varints of
// every length, records in the last bytes of a chunk, other kinds between allocations, frees of
// blocks the stream never saw) come back field for field, across the frames of one stream.
#include <zstd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <new>
#include <vector>

#include "frame_encoder.h"
#include "heapline/stream_coding.h"
#include "heapline/trace_format.h"

namespace heapline::preload {
namespace {

using format::RecordKind;

struct Event {
  RecordKind kind;
  uint64_t time_delta;
  uint8_t api;
  uint64_t size, address, stack;  // size and stack: kAlloc
  uint64_t rss;                   // kRss
  bool operator==(const Event&) const = default;
};

// A ring chunk's records as the recorder writes them (addresses as zz deltas in the chunk).
std::vector<uint8_t> ring_records(const std::vector<Event>& events) {
  std::vector<uint8_t> out;
  uint8_t buf[4 * format::kMaxVarintSize];
  uint64_t last_address = 0;
  for (const Event& e : events) {
    uint8_t* p = buf;
    *p++ = static_cast<uint8_t>(e.kind);
    p = format::put_varint(p, e.time_delta);
    if (e.kind == RecordKind::kRss) {
      p = format::put_varint(p, e.rss);
    } else {
      *p++ = e.api;
      if (e.kind == RecordKind::kAlloc) p = format::put_varint(p, e.size);
      p = format::put_varint(p, format::zigzag(static_cast<int64_t>(e.address - last_address)));
      last_address = e.address;
      if (e.kind == RecordKind::kAlloc) p = format::put_varint(p, e.stack);
    }
    out.insert(out.end(), buf, p);
  }
  return out;
}

// The reader's side of one stream.
struct Decoder {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  format::AddressHistory history;
  std::vector<uint64_t> ring = std::vector<uint64_t>(format::kOrdinalWindow);
  format::BlockOrdinals ordinals{ring.data()};
  Decoder() {
    history.reset();
    ordinals.reset();
  }
  ~Decoder() { ZSTD_freeDCtx(dctx); }

  std::vector<Event> decode(const uint8_t* frame, size_t size) {
    format::FrameHeader h;
    std::memcpy(&h, frame, sizeof h);
    EXPECT_EQ(h.flags, format::kFrameStreamCoded);
    EXPECT_EQ(sizeof h + h.compressed_size, size);
    std::vector<uint8_t> payload(h.raw_size);
    ZSTD_outBuffer out{payload.data(), payload.size(), 0};
    ZSTD_inBuffer in{frame + sizeof h, h.compressed_size, 0};
    while (in.pos < in.size) {
      const size_t r = ZSTD_decompressStream(dctx, &out, &in);
      if (ZSTD_isError(r)) {
        ADD_FAILURE() << ZSTD_getErrorName(r);
        return {};
      }
    }
    EXPECT_EQ(out.pos, payload.size());
    format::FrameSections sections{};
    EXPECT_TRUE(sections.parse(payload.data(), payload.size()));
    std::vector<Event> events;
    format::Cursor& c = sections.records;
    while (c.ok && c.remaining()) {
      Event e{};
      e.kind = static_cast<RecordKind>(c.byte());
      e.time_delta = c.varint();
      if (e.kind == RecordKind::kRss) {
        e.rss = c.varint();
      } else if (e.kind == RecordKind::kAlloc) {
        e.api = c.byte();
        e.size = sections.sizes.varint();
        EXPECT_TRUE(history.decode(sections.addresses, e.address));
        ordinals.on_alloc(e.address);
        e.stack = c.varint();
      } else {
        e.api = c.byte();
        const uint64_t code = c.varint();
        if (code == format::kFreeByAddress) {
          EXPECT_TRUE(history.decode(c, e.address));
        } else {
          EXPECT_TRUE(ordinals.decode_free(code, e.address)) << "code " << code;
          history.remember(e.address);
        }
      }
      events.push_back(e);
    }
    EXPECT_TRUE(c.ok && sections.sizes.ok && sections.addresses.ok);
    EXPECT_EQ(sections.sizes.remaining(), 0u);
    EXPECT_EQ(sections.addresses.remaining(), 0u);
    return events;
  }
};

TEST(FrameEncoder, ChunksOfEveryRecordShapeDecodeFieldForField) {
  constexpr uint32_t kChunkSize = 16384;
  static FrameEncoder encoder;  // large: not on the stack
  ASSERT_TRUE(encoder.start(2, kChunkSize));
  Decoder decoder;
  uint64_t state = 7;
  auto next = [&state] { return state = state * 6364136223846793005ull + 1442695040888963407ull; };
  std::vector<uint64_t> live;
  uint64_t frees = 0;
  for (uint64_t seq = 1; seq <= 6; ++seq) {
    std::vector<Event> events;
    size_t bytes = 0;
    // Fill the chunk to its last bytes, so the records at its end take the checked path.
    while (bytes + 40 < kChunkSize - sizeof(format::ChunkHeader)) {
      const uint64_t r = next();
      Event e{};
      e.time_delta = (r >> 60) < 12 ? (r >> 50) % 3 : r >> (r % 64);  // varints of 1 to 10 bytes
      e.api = static_cast<uint8_t>(r >> 8);
      const unsigned pick = (r >> 20) % 16;
      if (pick == 0) {
        e.kind = RecordKind::kRss;  // a record the recoder copies as it is
        e.api = 0;
        e.rss = r;
      } else if (pick < 8 || live.empty()) {
        e.kind = RecordKind::kAlloc;
        e.size = pick == 1 ? UINT64_MAX : (r >> 33) % 4096;
        e.address = pick == 2 ? next() : 0x7f0000000000ull + ((r >> 24) % 100000) * 16;
        e.stack = (r >> 40) % 5000;
        live.push_back(e.address);
      } else {
        e.kind = RecordKind::kFree;
        if (pick == 15) {
          e.address = next();  // never allocated in this stream
        } else {
          const size_t k = (r >> 28) % live.size();
          e.address = live[k];
          live[k] = live.back();
          live.pop_back();
        }
        ++frees;
      }
      events.push_back(e);
      bytes = ring_records(events).size();
    }
    const std::vector<uint8_t> records = ring_records(events);
    // A chunk as the ring holds it: header, records, and the rest of the chunk unused.
    std::vector<uint8_t> chunk(kChunkSize, 0xee);
    auto* header = new (chunk.data()) format::ChunkHeader{};
    header->seq = seq;
    header->tid = 42;
    header->used.store(static_cast<uint32_t>(records.size()));
    std::memcpy(chunk.data() + sizeof *header, records.data(), records.size());
    size_t size = 0;
    const uint8_t* frame = encoder.encode(*header, chunk.data() + sizeof *header, &size);
    ASSERT_NE(frame, nullptr);
    format::FrameHeader h;
    std::memcpy(&h, frame, sizeof h);
    EXPECT_EQ(h.prev_seq, seq - 1) << "the thread's frames form one stream";
    const std::vector<Event> decoded = decoder.decode(frame, size);
    ASSERT_EQ(decoded.size(), events.size()) << "chunk " << seq;
    for (size_t i = 0; i < events.size(); ++i)
      ASSERT_EQ(decoded[i], events[i]) << "chunk " << seq << " record " << i;
  }
  EXPECT_GT(frees, 1000u);
}

}  // namespace
}  // namespace heapline::preload
