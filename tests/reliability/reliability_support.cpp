#include "reliability_support.h"

#include <gtest/gtest.h>

#include <unordered_map>

#include "model/tick_order.h"

namespace heapline::reliability {
namespace {

class Tallier final : public analysis::RecordVisitor {
 public:
  explicit Tallier(TraceTally& out) : out_(out) {}

  void on_alloc(const analysis::AllocRecord& r) override {
    ++out_.records;
    ++out_.allocations;
    SizeTally& s = out_.sizes[r.size];
    ++s.allocations;
    ++s.live;
    if (const auto stack = stacks_.find(r.stack_id); stack != stacks_.end()) {
      s.innermost_frames.insert(stack->second.innermost);
      if (stack->second.depth == 1) {
        ++s.one_frame;
        ++out_.one_frame_allocations;
      }
    }
    s.threads.insert(r.tid);
    auto [it, inserted] = live_.try_emplace(r.address, r.size);
    if (!inserted) {
      // Its free may come later in this tick's merge (model/tick_order.h): counted until then.
      ++out_.allocs_at_live_address;
      tick_order_.owe_free(r.time_ns, r.address);
      owed_sizes_[r.address] = it->second;
      it->second = r.size;
    }
    // Freed by another thread in the same tick, its free merged first (model/tick_order.h).
    if (analysis::TickOrder::Free early{}; tick_order_.take_early_free(r.time_ns, r.address, r.tid, &early)) {
      --out_.unmatched_frees;
      count_free(r.size, early.tid);
      live_.erase(r.address);
    }
  }
  void on_free(const analysis::FreeRecord& r) override {
    ++out_.records;
    ++out_.frees;
    if (tick_order_.take_owed_free(r.time_ns, r.address)) {
      --out_.allocs_at_live_address;  // the old block's free, merged after its successor
      count_free(owed_sizes_[r.address], r.tid);
      return;
    }
    const auto it = live_.find(r.address);
    if (it == live_.end()) {
      ++out_.unmatched_frees;
      tick_order_.add_early_free(r.time_ns, {r.address, r.tid, r.api});
      return;
    }
    count_free(it->second, r.tid);
    live_.erase(it);
  }
  void on_process(const analysis::ProcessRecord& r) override {
    ++out_.records;
    out_.process_pid = r.pid;
    out_.process_ppid = r.ppid;
    out_.exe = std::string(r.exe);
    out_.argv.assign(r.argv.begin(), r.argv.end());
  }
  void on_exit(const analysis::ExitRecord& r) override {
    ++out_.records;
    out_.exits.push_back(r.kind);
    out_.exit_statuses.push_back(r.status);
  }
  void on_exec(const analysis::ExecRecord& r) override {
    ++out_.records;
    out_.execs.emplace_back(r.program);
  }
  void on_lost(const analysis::LostRecord& r) override {
    ++out_.records;
    out_.lost_allocations += r.allocations;
    out_.lost_frees += r.frees;
  }
  void on_stack(const analysis::StackRecord& r) override {
    ++out_.records;
    if (!r.frames.empty()) stacks_[r.stack_id] = {r.frames.size(), r.frames[0]};
  }
  void on_module_load(const analysis::ModuleLoadRecord& r) override {
    ++out_.records;
    out_.modules.emplace_back(r.path);
  }
  void on_module_unload(const analysis::ModuleUnloadRecord&) override { ++out_.records; }
  void on_thread_name(const analysis::ThreadNameRecord&) override { ++out_.records; }
  void on_rss(const analysis::RssRecord&) override { ++out_.records; }

 private:
  void count_free(uint64_t size, uint32_t tid) {
    SizeTally& s = out_.sizes[size];
    ++s.frees;
    --s.live;
    s.freeing_threads.insert(tid);
  }
  struct StackShape {
    size_t depth;
    uint64_t innermost;
  };
  TraceTally& out_;
  std::unordered_map<uint32_t, StackShape> stacks_;  // by stack id
  std::unordered_map<uint64_t, uint64_t> live_;  // address -> size
  std::unordered_map<uint64_t, uint64_t> owed_sizes_;  // address -> size of the block it ended
  analysis::TickOrder tick_order_;
};

}  // namespace

uint64_t TraceTally::allocs_of(uint64_t size) const {
  const auto it = sizes.find(size);
  return it == sizes.end() ? 0 : it->second.allocations;
}

uint64_t TraceTally::frees_of(uint64_t size) const {
  const auto it = sizes.find(size);
  return it == sizes.end() ? 0 : it->second.frees;
}

bool TraceTally::ended_by_exit(int status) const {
  return exits.size() == 1 && exits[0] == format::ExitKind::kExit && exit_statuses[0] == status;
}

bool TraceTally::ended_by_exec(const std::string& program) const {
  return exits.empty() && execs.size() == 1 && execs[0] == program;
}

TraceTally tally_trace(const std::string& path) {
  analysis::TraceReader reader(path);
  TraceTally t;
  t.path = path;
  t.header = reader.info().header;
  t.truncated = reader.info().truncated;
  t.ring_chunks = reader.info().ring_chunks;
  Tallier tallier(t);
  reader.read(tallier);
  return t;
}


std::vector<std::string> heapline_lines(const std::string& err) {
  std::vector<std::string> out;
  for (const std::string& line : lines_of(err))
    if (line.starts_with("heapline[")) out.push_back(line);
  return out;
}

std::string without_heapline_lines(const std::string& err) {
  std::string out;
  for (const std::string& line : lines_of(err))
    if (!line.starts_with("heapline[")) out += line + "\n";
  return out;
}

e2e::RunResult expect_same_behaviour(const e2e::TempDir& dir, const std::string& program,
                                     const std::vector<std::string>& args,
                                     const e2e::RunOptions& options, bool stderr_too) {
  const e2e::RunResult plain = e2e::run_untraced(program, args, options);
  e2e::RunResult traced = e2e::run_traced(dir, program, args, options);
  EXPECT_FALSE(plain.timed_out) << program;
  EXPECT_FALSE(traced.timed_out) << program << " hung under heapline";
  EXPECT_EQ(traced.exit_code, plain.exit_code) << traced.describe();
  EXPECT_EQ(traced.signal, plain.signal) << traced.describe();
  EXPECT_EQ(traced.out, plain.out);
  EXPECT_EQ(heapline_lines(traced.err), std::vector<std::string>{});
  if (stderr_too) {
    EXPECT_EQ(traced.err, plain.err);
  }
  return traced;
}

std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace heapline::reliability
