// The aggregators that one pass over the records feeds: totals, the live set, the peak (with the
// live bytes of every stack at that moment), leaks (live at the end), temporary allocations, and
// per-stack figures. Memory is bounded by live blocks and distinct stacks, never by events.
//
// Peak attribution without snapshots: each stack remembers its live bytes "as of the last peak"
// lazily. When a stack's live bytes are about to change and it has not yet been captured for the
// current peak, its present value (unchanged since that peak) is saved first. So each event costs
// O(1) even while the peak keeps rising.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/address_map.h"
#include "model/block_sizes.h"
#include "tick_order.h"
#include "model/module_table.h"
#include "reader/record_pipeline.h"
#include "reader/records.h"

namespace heapline::analysis {

// One cache line (and a power of two: indexing is a shift): two of them are touched per record.
struct alignas(64) StackStats {
  uint64_t allocations = 0;
  uint64_t bytes_allocated = 0;
  uint64_t live_bytes = 0;
  uint64_t live_blocks = 0;
  uint64_t temporary = 0;
  uint64_t peak_bytes = 0;  // live bytes of this stack at the global peak (final after finish())
  uint64_t peak_blocks = 0;
  uint64_t captured_peak = 0;  // which peak peak_bytes belongs to (see the header comment)
};
static_assert(sizeof(StackStats) == 64);

struct Summary {
  uint64_t allocations = 0;
  uint64_t frees = 0;
  uint64_t bytes_allocated = 0;
  uint64_t peak_bytes = 0;
  uint64_t peak_time_ns = 0;
  uint64_t leaked_bytes = 0;
  uint64_t leaked_blocks = 0;
  uint64_t temporary_allocations = 0;
  uint64_t duration_ns = 0;
  uint64_t peak_rss_bytes = 0;
  uint64_t unmatched_frees = 0;  // frees of blocks allocated before recording started
  uint64_t lost_allocations = 0;  // the recorder could not record (see kLost)
  uint64_t lost_frees = 0;
  // Sampling mode (sample_bytes > 0): the byte and count figures above are unbiased estimates,
  // each recorded allocation of s bytes standing for 1/p allocations, p = 1 - exp(-s/N).
  uint64_t sample_bytes = 0;
  uint64_t recorded_allocations = 0;
  double bytes_allocated_stderr = 0;  // standard error of the estimate
  double leaked_bytes_stderr = 0;
};

struct ProcessFacts {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  std::string exe;
  std::vector<std::string> argv;
  bool exited = false;  // an exit record with kind exit (return from main or exit())
  format::ExitKind exit_kind{};
  int64_t exit_status = 0;
  bool has_exit_record = false;
  bool execed = false;       // ended by exec (a kExec not voided by a failed exec), into exec_path
  std::string exec_path;
  std::unordered_map<uint32_t, std::string> thread_names;
};

// A distinct stack: return addresses resolved to modules at the time it was recorded.
struct StackTrace {
  std::vector<uint64_t> addresses;
  std::vector<ModuleAddress> frames;  // filled by finish(), when every module record is known
  uint64_t time_ns = 0;
};

class TraceReader;

class AllocationModel final : public RecordVisitor, public AddressLookahead {
 public:
  // The whole first pass: weights from the trace's header (sampling), every record, finish().
  void read_all(TraceReader& reader);

  // The two calls of nearly every record, defined below in this header and always inlined into
  // the replay loop: out of line, their calls, register saves and restores were 16% of the
  // model thread's instructions on a python3 trace (528 -> 446 M), 9-17% of its CPU.
  [[gnu::always_inline]] void on_alloc(const AllocRecord& r) override;
  [[gnu::always_inline]] void on_free(const FreeRecord& r) override;
  void on_stack(const StackRecord& r) override;
  void will_see(uint64_t address) override { live_.prefetch(address); }
  bool lookahead_pays() const override { return live_.prefetch_pays(); }
  void on_module_load(const ModuleLoadRecord& r) override {
    modules_.on_load(r);
    if (module_listener_) module_listener_(modules_.modules().back());
  }
  void on_module_unload(const ModuleUnloadRecord& r) override { modules_.on_unload(r); }
  void on_process(const ProcessRecord& r) override;
  void on_thread_name(const ThreadNameRecord& r) override;
  void on_rss(const RssRecord& r) override;
  void on_exit(const ExitRecord& r) override;
  void on_exec(const ExecRecord& r) override;
  void on_lost(const LostRecord& r) override;
  // After the last record: settles peak figures and leak totals.
  void finish();
  // Before the first record: called with each module as its record is read (a caller starts
  // loading debug info it will need while the rest of the trace is read).
  void set_module_listener(std::function<void(const ModuleInfo&)> listener) {
    module_listener_ = std::move(listener);
  }
  // Before the first record, for a trace recorded in sampling mode (the header says).
  void set_sample_bytes(uint64_t n) { summary_.sample_bytes = n; }

  const Summary& summary() const { return summary_; }
  const ProcessFacts& process() const { return process_; }
  const ModuleTable& modules() const { return modules_; }
  // Indexed by the trace's stack id (0 = unknown).
  const std::vector<StackStats>& stack_stats() const { return stats_; }
  const std::vector<StackTrace>& stacks() const { return stacks_; }

 private:
  struct LiveBlock {
    uint32_t size;  // requested bytes as recorded, packed (block_sizes.h)
    uint32_t stack_id;
  };
  // What a live block counts for: its bytes (the estimate, in sampling mode) and the
  // allocations it stands for (1, or 1/p in sampling mode). A sampled block's are computed
  // again from its recorded size when it ends, which keeps LiveBlock at 8 bytes.
  struct BlockFigures {
    uint64_t bytes;
    float weight;
  };
  // The figures of a block of `recorded_size` bytes (on_alloc computes them inline).
  BlockFigures figures_of(uint64_t recorded_size) const {
    if (summary_.sample_bytes == 0) return {recorded_size, 1};
    // Horvitz-Thompson: a block sampled with probability p counts 1/p times.
    const double p = -std::expm1(-static_cast<double>(recorded_size) /
                                 static_cast<double>(summary_.sample_bytes));
    const double weight = p > 0 ? 1 / p : 1;
    return {static_cast<uint64_t>(std::llround(static_cast<double>(recorded_size) * weight)),
            static_cast<float>(weight)};
  }
  // The figures of the block that `address` held, when it ends. Inline, once per free.
  [[gnu::always_inline]] BlockFigures end_block(uint64_t address, const LiveBlock& block) {
    const uint64_t size = sizes_.unpack(address, block.size);
    if (summary_.sample_bytes == 0) [[likely]] return {size, 1};
    return figures_of(size);
  }
  StackStats& stats_for(uint32_t stack_id) {
    return stack_id < stats_.size() ? stats_[stack_id] : grow_stats(stack_id);
  }
  StackStats& grow_stats(uint32_t stack_id);
  // Inline: up to three calls per record, nearly always returning at once.
  void capture_for_peak(StackStats& s) const {
    if (s.captured_peak == peak_epoch_) return;
    s.peak_bytes = s.live_bytes;
    s.peak_blocks = s.live_blocks;
    s.captured_peak = peak_epoch_;
  }
  // Ends the live block at `address`; false if there is none.
  [[gnu::always_inline]] bool release(uint64_t address, bool implicit, bool temporary);
  void see_time(uint64_t time_ns) {
    if (time_ns > summary_.duration_ns) summary_.duration_ns = time_ns;
  }

  Summary summary_;
  ProcessFacts process_;
  ModuleTable modules_;
  AddressMap<LiveBlock> live_;
  TickOrder tick_order_;
  uint64_t live_bytes_ = 0;
  uint64_t peak_epoch_ = 0;  // bumped whenever the peak rises
  std::vector<StackStats> stats_;
  std::vector<double> estimated_allocations_by_stack_;  // sampling mode: sums of the weights
  std::vector<StackTrace> stacks_;
  BlockSizes sizes_;
  uint64_t last_alloc_address_ = 0;  // for temporaries: an alloc immediately freed
  bool last_alloc_pending_ = false;
  double estimated_allocations_ = 0;
  double estimated_frees_ = 0;
  double bytes_allocated_variance_ = 0;
  std::function<void(const ModuleInfo&)> module_listener_;
};

// The per-record calls, inline (see on_alloc's declaration).

inline void AllocationModel::on_alloc(const AllocRecord& r) {
  see_time(r.time_ns);
  uint64_t size = r.size;
  double weight = 1;
  const bool sampled = summary_.sample_bytes != 0;
  if (sampled) {
    // As figures_of(), with the unrounded estimate for the variance.
    const double p =
        -std::expm1(-static_cast<double>(r.size) / static_cast<double>(summary_.sample_bytes));
    weight = p > 0 ? 1 / p : 1;
    const double estimate = static_cast<double>(r.size) * weight;
    size = static_cast<uint64_t>(std::llround(estimate));
    bytes_allocated_variance_ += estimate * estimate * (1 - (p > 0 ? p : 1));
    // The estimated counts are read only for a sampled trace (finish()).
    estimated_allocations_ += weight;
  }
  ++summary_.allocations;
  summary_.bytes_allocated += size;
  // One lookup: the new block takes the slot. A block still live there was freed (the allocator
  // never hands out a live block): its free comes later in this tick's merge, or was not
  // recorded (tick_order.h).
  auto [block, inserted] = live_.try_emplace(r.address);
  if (!inserted) {
    const BlockFigures ended = end_block(r.address, *block);
    StackStats& old = stats_for(block->stack_id);
    capture_for_peak(old);
    old.live_bytes -= ended.bytes;
    --old.live_blocks;
    live_bytes_ -= ended.bytes;
    tick_order_.owe_free(r.time_ns, r.address);
  }
  *block = LiveBlock{sizes_.pack(r.address, r.size), r.stack_id};
  StackStats& s = stats_for(r.stack_id);
  capture_for_peak(s);
  ++s.allocations;
  if (sampled) estimated_allocations_by_stack_[r.stack_id] += weight;
  s.bytes_allocated += size;
  s.live_bytes += size;
  ++s.live_blocks;
  live_bytes_ += size;
  if (live_bytes_ > summary_.peak_bytes) {
    summary_.peak_bytes = live_bytes_;
    summary_.peak_time_ns = r.time_ns;
    ++peak_epoch_;
  }
  last_alloc_address_ = r.address;
  last_alloc_pending_ = true;
  TickOrder::Free early{};
  if (tick_order_.take_early_free(r.time_ns, r.address, r.tid, &early)) {
    // Freed by another thread in the same tick, its free merged before it (tick_order.h).
    --summary_.unmatched_frees;
    const bool implicit = early.api == format::AllocApi::kRealloc ||
                          early.api == format::AllocApi::kReallocArray;
    release(r.address, implicit, /*temporary=*/false);
  }
}

inline void AllocationModel::on_free(const FreeRecord& r) {
  see_time(r.time_ns);
  const bool implicit =
      r.api == format::AllocApi::kRealloc || r.api == format::AllocApi::kReallocArray;
  if (!implicit) ++summary_.frees;
  const bool temporary = last_alloc_pending_ && last_alloc_address_ == r.address && !implicit;
  last_alloc_pending_ = false;
  if (tick_order_.take_owed_free(r.time_ns, r.address)) return;  // its block ended already
  if (!release(r.address, implicit, temporary)) {
    ++summary_.unmatched_frees;
    tick_order_.add_early_free(r.time_ns, {r.address, r.tid, r.api});
  }
}

inline bool AllocationModel::release(uint64_t address, bool implicit, bool temporary) {
  LiveBlock block;
  if (!live_.take(address, block)) return false;
  const BlockFigures figures = end_block(address, block);
  StackStats& s = stats_for(block.stack_id);
  capture_for_peak(s);
  s.live_bytes -= figures.bytes;
  --s.live_blocks;
  if (temporary) {
    ++s.temporary;
    ++summary_.temporary_allocations;
  }
  live_bytes_ -= figures.bytes;
  if (!implicit && summary_.sample_bytes) estimated_frees_ += figures.weight;
  return true;
}

}  // namespace heapline::analysis
