// The batches in which the reader's thread hands records to the caller's thread
// (record_pipeline.h), and their replay into a visitor.
//
// The replay is a template so that a visitor of a final class (the model) gets its records
// through direct, inlinable calls instead of one virtual call per record (the calls, their
// record structs and their prologues were ~40 instructions of the ~230 the model spent on an
// allocation or a free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "reader/records.h"

namespace heapline::analysis {

// A visitor whose work per allocation and free is a lookup keyed by the block's address (the
// model's live-block map) can implement this too: the pipeline then tells it each such address
// some records ahead, so the lookup's cache line is on its way before the record arrives. On a
// big live set (a 24 MiB table for a python3 trace) those misses, not instructions, are most of
// the model's time.
class AddressLookahead {
 public:
  virtual ~AddressLookahead() = default;
  virtual void will_see(uint64_t address) = 0;
  // Asked once per batch: whether naming its addresses ahead is worth it now. A table that fits
  // the caches gains nothing from a prefetch, and naming each address costs ~10 instructions
  // of the ~200 the model spends on a record (sqlite3's trace, whose live set stays small).
  virtual bool lookahead_pays() const { return true; }
};

namespace pipeline {

enum class Kind : uint8_t {
  kAlloc, kFree, kStack, kModuleLoad, kModuleUnload, kProcess, kThreadName, kRss, kExit, kExec,
  kLost
};

// One record, copied out of the reader's buffers. Allocations and frees (nearly all records)
// fit in the fixed fields; the rest keep their variable parts in the batch's side stores.
struct Event {
  uint64_t time_ns;
  uint64_t a;    // alloc: size; stack: first frame in `frames`; module load: load bias;
                 // rss: bytes; exit: status; lost: allocations; with text: index in `texts`
  uint64_t b;    // alloc, free: address; stack: frame count; lost: frees
  uint32_t tid;  // process: pid; module load/unload: module id
  uint32_t c;    // alloc, stack: stack id; process: ppid
  Kind kind;
  uint8_t api;   // alloc, free: AllocApi; exit: ExitKind
};

// The variable parts of a rare record (modules, process, names, exec).
struct Text {
  std::string s1, s2;
  std::vector<Segment> segments;
  std::vector<std::string> argv;
};

struct Batch {
  // A fixed array, not a vector: appending is one store and one compare per record.
  std::unique_ptr<Event[]> events;
  size_t count = 0;
  std::vector<uint64_t> frames;
  std::vector<Text> texts;
  size_t texts_used = 0;  // texts are reused, not freed, between batches

  void clear() {
    count = 0;
    frames.clear();
    texts_used = 0;
  }
  Text& new_text(uint64_t* index) {
    *index = texts_used;
    if (texts_used == texts.size()) texts.emplace_back();
    Text& t = texts[texts_used++];
    t.s1.clear();
    t.s2.clear();
    t.segments.clear();
    t.argv.clear();
    return t;
  }
};


// How many records ahead the lookahead names an address: enough for a miss to memory to finish
// (a few hundred ns) before its record's turn (16 and 32 did alike on python3 and containers,
// 32 a little better; 8 worse).
constexpr size_t kLookahead = 32;

// Hands a batch's records to the visitor, as the reader would have; with kAhead, names each
// allocation's and free's address to the visitor's lookahead kLookahead records early.
template <bool kAhead, typename Visitor>
void replay(const Batch& batch, Visitor& v, AddressLookahead* ahead,
            std::vector<std::string_view>& argv) {
  const Event* events = batch.events.get();
  const size_t n = batch.count;
  auto announce = [&](size_t i) {
    const Event& f = events[i];
    if (f.kind == Kind::kAlloc || f.kind == Kind::kFree) {
      if constexpr (std::is_base_of_v<AddressLookahead, Visitor>)
        v.will_see(f.b);  // inlined into the loop for a final visitor (the model)
      else
        ahead->will_see(f.b);
    }
  };
  if constexpr (kAhead)
    for (size_t i = 0; i < kLookahead && i < n; ++i) announce(i);
  for (size_t i = 0; i < n; ++i) {
    const Event& e = events[i];
    if constexpr (kAhead)
      if (i + kLookahead < n) announce(i + kLookahead);
    switch (e.kind) {
      case Kind::kAlloc:
        v.on_alloc({e.time_ns, e.tid, static_cast<format::AllocApi>(e.api), e.a, e.b, e.c});
        break;
      case Kind::kFree:
        v.on_free({e.time_ns, e.tid, static_cast<format::AllocApi>(e.api), e.b});
        break;
      case Kind::kStack:
        v.on_stack({e.time_ns, e.tid, e.c,
                    std::span<const uint64_t>(batch.frames.data() + e.a, e.b)});
        break;
      case Kind::kModuleLoad: {
        const Text& t = batch.texts[e.a];
        v.on_module_load({e.time_ns, e.tid, e.b, t.s1, t.s2, t.segments});
        break;
      }
      case Kind::kModuleUnload:
        v.on_module_unload({e.time_ns, e.tid});
        break;
      case Kind::kProcess: {
        const Text& t = batch.texts[e.a];
        argv.assign(t.argv.begin(), t.argv.end());
        v.on_process({e.time_ns, e.tid, e.c, t.s1, argv});
        break;
      }
      case Kind::kThreadName:
        v.on_thread_name({e.time_ns, e.tid, batch.texts[e.a].s1});
        break;
      case Kind::kRss:
        v.on_rss({e.time_ns, e.a});
        break;
      case Kind::kExit:
        v.on_exit({e.time_ns, e.tid, static_cast<format::ExitKind>(e.api),
                   static_cast<int64_t>(e.a)});
        break;
      case Kind::kExec:
        v.on_exec({e.time_ns, e.tid, batch.texts[e.a].s1});
        break;
      case Kind::kLost:
        v.on_lost({e.time_ns, e.a, e.b});
        break;
    }
  }
}


// Replays a batch into `visitor`, naming addresses ahead to it when it wants them.
template <typename Visitor>
void replay_batch(const Batch& batch, Visitor& visitor, std::vector<std::string_view>& argv) {
  if constexpr (std::is_base_of_v<AddressLookahead, Visitor>) {
    if (visitor.lookahead_pays())
      replay<true>(batch, visitor, &visitor, argv);
    else
      replay<false>(batch, visitor, nullptr, argv);
  } else {
    AddressLookahead* ahead = dynamic_cast<AddressLookahead*>(&visitor);
    if (ahead && ahead->lookahead_pays())
      replay<true>(batch, visitor, ahead, argv);
    else
      replay<false>(batch, visitor, nullptr, argv);
  }
}

}  // namespace pipeline
}  // namespace heapline::analysis
