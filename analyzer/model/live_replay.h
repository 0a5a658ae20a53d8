// A second, lighter replay of a trace's live set, for the analyses that need "how much was live,
// per stack, at time T" (line increments over a window, time series, growth trends). It tracks
// address -> (size, stack) exactly as AllocationModel does (same rules for a missed free), and
// turns every allocation and free into one signed change of one stack's live bytes, handed to
// listeners. Memory: the live blocks only; nothing per event is kept.
#pragma once

#include <cstdint>
#include <vector>

#include "model/address_map.h"
#include "model/block_sizes.h"
#include "tick_order.h"
#include "reader/record_pipeline.h"
#include "reader/records.h"

namespace heapline::analysis {

class LiveChangeListener {
 public:
  virtual ~LiveChangeListener() = default;
  // `stack_id`'s live bytes change by `delta` at `time_ns` (times never decrease).
  virtual void on_live_change(uint64_t time_ns, uint32_t stack_id, int64_t delta) = 0;
  virtual void on_rss_sample(uint64_t time_ns, uint64_t rss_bytes) {}
  // After the last record.
  virtual void on_replay_end() {}
};

// The bytes a recorded block stands for: its size, or, in a sampled trace (sample_bytes > 0),
// its Horvitz-Thompson estimate size / p with p = 1 - exp(-size / sample_bytes), rounded exactly
// as AllocationModel::on_alloc does, so that both replays agree to the byte.
uint64_t estimated_block_bytes(uint64_t size, uint64_t sample_bytes);

class LiveReplay : public RecordVisitor, public AddressLookahead {
 public:
  // `sample_bytes`: the trace header's (0 = every allocation recorded).
  explicit LiveReplay(uint64_t sample_bytes = 0) : sample_bytes_(sample_bytes) {}
  void add_listener(LiveChangeListener& listener) { listeners_.push_back(&listener); }

  void on_alloc(const AllocRecord& r) override;
  void on_free(const FreeRecord& r) override;
  void on_rss(const RssRecord& r) override;
  void will_see(uint64_t address) override { live_.prefetch(address); }
  bool lookahead_pays() const override { return live_.prefetch_pays(); }
  // Call once the reader has returned.
  void finish();

 private:
  struct LiveBlock {
    uint32_t size;  // as recorded, packed (block_sizes.h); the estimate is computed when it ends
    uint32_t stack_id;
  };
  void emit(uint64_t time_ns, uint32_t stack_id, int64_t delta);
  bool release(uint64_t time_ns, uint64_t address);
  // The bytes the block that `address` held stands for, when it ends.
  uint64_t bytes_of(uint64_t address, const LiveBlock& block);

  uint64_t sample_bytes_;
  AddressMap<LiveBlock> live_;
  BlockSizes sizes_;
  TickOrder tick_order_;
  std::vector<LiveChangeListener*> listeners_;
};

}  // namespace heapline::analysis
