#include "allocation_model.h"

#include <cmath>

#include "reader/record_pipeline.h"
#include "reader/trace_reader.h"

namespace heapline::analysis {

void AllocationModel::read_all(TraceReader& reader) {
  set_sample_bytes(reader.info().header.sample_bytes);
  read_pipelined(reader, *this);
  finish();
}

StackStats& AllocationModel::grow_stats(uint32_t stack_id) {
  stats_.resize(stack_id + 1);
  if (summary_.sample_bytes) estimated_allocations_by_stack_.resize(stats_.size());
  return stats_[stack_id];
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
    for (size_t id = 0; id < stats_.size(); ++id)
      stats_[id].allocations = static_cast<uint64_t>(std::llround(estimated_allocations_by_stack_[id]));
    double leaked_variance = 0, leaked_blocks = 0;
    live_.for_each([&](uint64_t address, const LiveBlock& block) {
      const BlockFigures figures = figures_of(sizes_.peek(address, block.size));
      const double estimate = static_cast<double>(figures.bytes);
      leaked_variance += estimate * estimate * (1 - 1 / figures.weight);
      leaked_blocks += figures.weight;
    });
    summary_.leaked_blocks = static_cast<uint64_t>(std::llround(leaked_blocks));
    summary_.bytes_allocated_stderr = std::sqrt(bytes_allocated_variance_);
    summary_.leaked_bytes_stderr = std::sqrt(leaked_variance);
  }
}

}  // namespace heapline::analysis
