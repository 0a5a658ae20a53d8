#include "allocation_model.h"

#include <cmath>

#include "reader/record_pipeline.h"
#include "reader/trace_reader.h"

namespace heapline::analysis {

using format::AllocApi;

void AllocationModel::read_all(TraceReader& reader) {
  set_sample_bytes(reader.info().header.sample_bytes);
  read_pipelined(reader, *this);
  finish();
}

StackStats& AllocationModel::grow_stats(uint32_t stack_id) {
  stats_.resize(stack_id + 1);
  return stats_[stack_id];
}

void AllocationModel::on_alloc(const AllocRecord& r) {
  see_time(r.time_ns);
  uint64_t size = r.size;
  double weight = 1;
  const bool sampled = summary_.sample_bytes != 0;
  if (sampled) {
    // Horvitz-Thompson: a block sampled with probability p counts 1/p times.
    const double p = -std::expm1(-static_cast<double>(r.size) / static_cast<double>(summary_.sample_bytes));
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
    StackStats& old = stats_for(block->stack_id);
    capture_for_peak(old);
    old.live_bytes -= block->size;
    --old.live_blocks;
    live_bytes_ -= block->size;
    tick_order_.owe_free(r.time_ns, r.address);
  }
  *block = LiveBlock{size, r.stack_id, static_cast<float>(weight)};
  StackStats& s = stats_for(r.stack_id);
  capture_for_peak(s);
  ++s.allocations;
  if (sampled) s.estimated_allocations += weight;
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
    const bool implicit = early.api == AllocApi::kRealloc || early.api == AllocApi::kReallocArray;
    release(r.address, implicit, /*temporary=*/false);
  }
}

void AllocationModel::on_free(const FreeRecord& r) {
  see_time(r.time_ns);
  const bool implicit = r.api == AllocApi::kRealloc || r.api == AllocApi::kReallocArray;
  if (!implicit) ++summary_.frees;
  const bool temporary = last_alloc_pending_ && last_alloc_address_ == r.address && !implicit;
  last_alloc_pending_ = false;
  if (tick_order_.take_owed_free(r.time_ns, r.address)) return;  // its block ended already
  if (!release(r.address, implicit, temporary)) {
    ++summary_.unmatched_frees;
    tick_order_.add_early_free(r.time_ns, {r.address, r.tid, r.api});
  }
}

bool AllocationModel::release(uint64_t address, bool implicit, bool temporary) {
  LiveBlock block;
  if (!live_.take(address, block)) return false;
  StackStats& s = stats_for(block.stack_id);
  capture_for_peak(s);
  s.live_bytes -= block.size;
  --s.live_blocks;
  if (temporary) {
    ++s.temporary;
    ++summary_.temporary_allocations;
  }
  live_bytes_ -= block.size;
  if (!implicit && summary_.sample_bytes) estimated_frees_ += block.weight;
  return true;
}

void AllocationModel::on_stack(const StackRecord& r) {
  see_time(r.time_ns);
  if (r.stack_id >= stacks_.size()) stacks_.resize(r.stack_id + 1);
  StackTrace& t = stacks_[r.stack_id];
  t.addresses.assign(r.frames.begin(), r.frames.end());
  t.frames.clear();
  t.time_ns = r.time_ns;
  stats_for(r.stack_id);
}

void AllocationModel::on_process(const ProcessRecord& r) {
  process_.pid = r.pid;
  process_.ppid = r.ppid;
  process_.exe = std::string(r.exe);
  process_.argv.assign(r.argv.begin(), r.argv.end());
}

void AllocationModel::on_thread_name(const ThreadNameRecord& r) {
  process_.thread_names[r.tid] = std::string(r.name);
}

void AllocationModel::on_rss(const RssRecord& r) {
  see_time(r.time_ns);
  if (r.rss_bytes > summary_.peak_rss_bytes) summary_.peak_rss_bytes = r.rss_bytes;
}

void AllocationModel::on_exit(const ExitRecord& r) {
  see_time(r.time_ns);
  // The first exit record counts: exit() may be followed by _exit() from an atexit handler.
  // Nothing the image does comes after a successful exec.
  if (process_.has_exit_record || process_.execed) return;
  process_.has_exit_record = true;
  process_.exit_kind = r.kind;
  process_.exit_status = r.status;
  process_.exited = r.kind == format::ExitKind::kExit;
}

void AllocationModel::on_exec(const ExecRecord& r) {
  see_time(r.time_ns);
  if (process_.has_exit_record) return;
  process_.execed = !r.program.empty();  // an empty one: the exec failed, the process went on
  process_.exec_path = std::string(r.program);
}

void AllocationModel::on_lost(const LostRecord& r) {
  summary_.lost_allocations += r.allocations;
  summary_.lost_frees += r.frees;
}

void AllocationModel::finish() {
  // Stacks are resolved to modules only now: a library's constructors allocate inside dlopen,
  // before the recorder writes the library's module record (when dlopen returns), so resolving
  // when the stack record is read would find no module for those frames.
  for (StackTrace& t : stacks_) {
    t.frames.clear();
    for (const uint64_t pc : t.addresses) t.frames.push_back(modules_.resolve(pc, t.time_ns));
  }
  for (StackStats& s : stats_) capture_for_peak(s);
  summary_.leaked_bytes = live_bytes_;
  summary_.leaked_blocks = live_.size();
  if (summary_.sample_bytes) {
    // Counts become estimates too; the recorded numbers stay available.
    summary_.recorded_allocations = summary_.allocations;
    summary_.allocations = static_cast<uint64_t>(std::llround(estimated_allocations_));
    summary_.frees = static_cast<uint64_t>(std::llround(estimated_frees_));
    for (StackStats& s : stats_) s.allocations = static_cast<uint64_t>(std::llround(s.estimated_allocations));
    double leaked_variance = 0, leaked_blocks = 0;
    live_.for_each([&](uint64_t, const LiveBlock& block) {
      const double estimate = static_cast<double>(block.size);
      leaked_variance += estimate * estimate * (1 - 1 / block.weight);
      leaked_blocks += block.weight;
    });
    summary_.leaked_blocks = static_cast<uint64_t>(std::llround(leaked_blocks));
    summary_.bytes_allocated_stderr = std::sqrt(bytes_allocated_variance_);
    summary_.leaked_bytes_stderr = std::sqrt(leaked_variance);
  }
}

}  // namespace heapline::analysis
