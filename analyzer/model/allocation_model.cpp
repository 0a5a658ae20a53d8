#include "allocation_model.h"

namespace heapline::analysis {

using format::AllocApi;

StackStats& AllocationModel::stats_for(uint32_t stack_id) {
  if (stack_id >= stats_.size()) stats_.resize(stack_id + 1);
  return stats_[stack_id];
}

void AllocationModel::capture_for_peak(StackStats& s) const {
  if (s.captured_peak == peak_epoch_) return;
  s.peak_bytes = s.live_bytes;
  s.peak_blocks = s.live_blocks;
  s.captured_peak = peak_epoch_;
}

void AllocationModel::on_alloc(const AllocRecord& r) {
  see_time(r.time_ns);
  ++summary_.allocations;
  summary_.bytes_allocated += r.size;
  // A block at an address we think is live means we missed its free (not recorded): drop it.
  if (auto it = live_.find(r.address); it != live_.end()) {
    StackStats& old = stats_for(it->second.stack_id);
    capture_for_peak(old);
    old.live_bytes -= it->second.size;
    --old.live_blocks;
    live_bytes_ -= it->second.size;
    live_.erase(it);
  }
  StackStats& s = stats_for(r.stack_id);
  capture_for_peak(s);
  ++s.allocations;
  s.bytes_allocated += r.size;
  s.live_bytes += r.size;
  ++s.live_blocks;
  live_.emplace(r.address, LiveBlock{r.size, r.stack_id});
  live_bytes_ += r.size;
  if (live_bytes_ > summary_.peak_bytes) {
    summary_.peak_bytes = live_bytes_;
    summary_.peak_time_ns = r.time_ns;
    ++peak_epoch_;
  }
  last_alloc_address_ = r.address;
  last_alloc_pending_ = true;
}

void AllocationModel::on_free(const FreeRecord& r) {
  see_time(r.time_ns);
  const bool implicit = r.api == AllocApi::kRealloc || r.api == AllocApi::kReallocArray;
  if (!implicit) ++summary_.frees;
  const bool temporary = last_alloc_pending_ && last_alloc_address_ == r.address && !implicit;
  last_alloc_pending_ = false;
  auto it = live_.find(r.address);
  if (it == live_.end()) {
    ++summary_.unmatched_frees;
    return;
  }
  StackStats& s = stats_for(it->second.stack_id);
  capture_for_peak(s);
  s.live_bytes -= it->second.size;
  --s.live_blocks;
  if (temporary) {
    ++s.temporary;
    ++summary_.temporary_allocations;
  }
  live_bytes_ -= it->second.size;
  live_.erase(it);
}

void AllocationModel::on_stack(const StackRecord& r) {
  see_time(r.time_ns);
  if (r.stack_id >= stacks_.size()) stacks_.resize(r.stack_id + 1);
  StackTrace& t = stacks_[r.stack_id];
  t.addresses.assign(r.frames.begin(), r.frames.end());
  t.frames.clear();
  for (const uint64_t pc : r.frames) t.frames.push_back(modules_.resolve(pc, r.time_ns));
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
  if (process_.has_exit_record) return;
  process_.has_exit_record = true;
  process_.exit_kind = r.kind;
  process_.exit_status = r.status;
  process_.exited = r.kind == format::ExitKind::kExit;
}

void AllocationModel::on_lost(const LostRecord& r) {
  summary_.lost_allocations += r.allocations;
  summary_.lost_frees += r.frees;
}

void AllocationModel::finish() {
  for (StackStats& s : stats_) capture_for_peak(s);
  summary_.leaked_bytes = live_bytes_;
  summary_.leaked_blocks = live_.size();
}

}  // namespace heapline::analysis
