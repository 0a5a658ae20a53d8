#include "stack_snapshots.h"

namespace heapline::analysis {

StackSnapshots::StackSnapshots(std::vector<uint64_t> times_ns)
    : times_(std::move(times_ns)), taken_(times_.size(), false), snapshots_(times_.size()) {}

// Takes every snapshot whose moment lies before `before_time_ns`: the changes about to be applied
// happen after it, so the present state is the state at that moment.
void StackSnapshots::take_due(uint64_t before_time_ns) {
  for (size_t i = 0; i < times_.size(); ++i) {
    if (taken_[i] || times_[i] >= before_time_ns) continue;
    snapshots_[i] = live_;
    taken_[i] = true;
  }
}

void StackSnapshots::on_live_change(uint64_t time_ns, uint32_t stack_id, int64_t delta) {
  take_due(time_ns);
  if (stack_id >= live_.size()) live_.resize(stack_id + 1, 0);
  live_[stack_id] += static_cast<uint64_t>(delta);  // wraps back: a stack never goes below zero
}

void StackSnapshots::on_replay_end() {
  for (size_t i = 0; i < times_.size(); ++i)
    if (!taken_[i]) snapshots_[i] = live_;
  taken_.assign(times_.size(), true);
}

}  // namespace heapline::analysis
