// Live bytes of every stack at a few chosen moments (the ends of a `heapline lines --from/--to`
// window), taken during a LiveReplay. The snapshot at time T is the state after every change at
// or before T. Memory: one vector of live bytes per stack, plus one copy per requested moment.
#pragma once

#include <cstdint>
#include <vector>

#include "model/live_replay.h"

namespace heapline::analysis {

class StackSnapshots : public LiveChangeListener {
 public:
  // `times_ns` in any order; snapshot(i) answers for times_ns[i].
  explicit StackSnapshots(std::vector<uint64_t> times_ns);

  void on_live_change(uint64_t time_ns, uint32_t stack_id, int64_t delta) override;
  void on_replay_end() override;

  // Live bytes by stack id (ids past the end of the vector had nothing live).
  const std::vector<uint64_t>& snapshot(size_t i) const { return snapshots_[i]; }

 private:
  void take_due(uint64_t before_time_ns);

  std::vector<uint64_t> times_;
  std::vector<bool> taken_;
  std::vector<std::vector<uint64_t>> snapshots_;
  std::vector<uint64_t> live_;
};

}  // namespace heapline::analysis
