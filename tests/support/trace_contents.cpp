#include "trace_contents.h"

#include <elf.h>

#include <algorithm>
#include <filesystem>

#include "model/tick_order.h"
#include "reader/trace_reader.h"

namespace heapline::e2e {

namespace {

std::string basename_of(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// Replays records into a TraceContents, pairing each free with the live allocation it ends.
class ContentsBuilder final : public analysis::RecordVisitor {
 public:
  explicit ContentsBuilder(TraceContents& out) : out_(out) {}

  void on_alloc(const analysis::AllocRecord& r) override {
    ++out_.records;
    out_.thread_ids.insert(r.tid);
    out_.null_allocations += r.address == 0;
    const auto [it, inserted] = live_.try_emplace(r.address, out_.allocations.size());
    if (!inserted) {
      // Its free may come later in this tick's merge (model/tick_order.h); if not, it is an
      // ordering bug or a lost free, and stays counted.
      ++out_.allocs_at_live_address;
      tick_order_.owe_free(r.time_ns, r.address);
      it->second = out_.allocations.size();
    }
    out_.allocations.push_back({r.time_ns, r.tid, r.api, r.size, r.address, r.stack_id, {}});
    // Freed by another thread in the same tick, its free merged first (model/tick_order.h).
    analysis::TickOrder::Free early{};
    if (tick_order_.take_early_free(r.time_ns, r.address, r.tid, &early)) {
      --out_.unmatched_frees;
      out_.allocations.back().freed_by = early.api;
      live_.erase(r.address);
    }
  }
  void on_free(const analysis::FreeRecord& r) override {
    ++out_.records;
    ++out_.frees;
    out_.thread_ids.insert(r.tid);
    out_.null_frees += r.address == 0;
    if (tick_order_.take_owed_free(r.time_ns, r.address)) {
      --out_.allocs_at_live_address;  // the old block's free, merged after its successor
      displaced_free(r);
      return;
    }
    const auto it = live_.find(r.address);
    if (it == live_.end()) {
      ++out_.unmatched_frees;
      tick_order_.add_early_free(r.time_ns, {r.address, r.tid, r.api});
      return;
    }
    out_.allocations[it->second].freed_by = r.api;
    live_.erase(it);
  }
  void on_stack(const analysis::StackRecord& r) override {
    ++out_.records;
    out_.stacks[r.stack_id].assign(r.frames.begin(), r.frames.end());
  }
  void on_module_load(const analysis::ModuleLoadRecord& r) override {
    ++out_.records;
    out_.modules.push_back(
        {r.module_id, r.load_bias, std::string(r.path), {r.segments.begin(), r.segments.end()}});
  }
  void on_module_unload(const analysis::ModuleUnloadRecord& r) override {
    ++out_.records;
    out_.module_unloads.push_back(r.module_id);
    for (ModuleInfo& m : out_.modules)
      if (m.id == r.module_id && !m.unloaded) m.unloaded = true;
  }
  void on_process(const analysis::ProcessRecord& r) override {
    ++out_.records;
    out_.processes.push_back({r.pid, r.ppid, std::string(r.exe), {r.argv.begin(), r.argv.end()}});
  }
  void on_exit(const analysis::ExitRecord& r) override {
    ++out_.records;
    out_.exits.push_back({r.kind, r.status, r.tid});
  }
  void on_exec(const analysis::ExecRecord& r) override {
    ++out_.records;
    out_.execs.push_back({std::string(r.program), r.tid});
  }
  void on_lost(const analysis::LostRecord& r) override {
    ++out_.records;
    out_.lost_allocations += r.allocations;
    out_.lost_frees += r.frees;
  }
  void on_thread_name(const analysis::ThreadNameRecord&) override { ++out_.records; }
  void on_rss(const analysis::RssRecord&) override { ++out_.records; }

 private:
  TraceContents& out_;
  std::unordered_map<uint64_t, size_t> live_;  // address -> index in allocations
  // The block a late free ends: the latest allocation at that address before the live one.
  void displaced_free(const analysis::FreeRecord& r) {
    const auto live = live_.find(r.address);
    const size_t live_index = live == live_.end() ? SIZE_MAX : live->second;
    for (size_t i = out_.allocations.size(); i-- > 0;) {
      Allocation& a = out_.allocations[i];
      if (a.address != r.address || a.freed_by || i == live_index) continue;
      a.freed_by = r.api;
      return;
    }
  }
  analysis::TickOrder tick_order_;
};

}  // namespace

bool ModuleInfo::contains_code(uint64_t pc) const {
  for (const analysis::Segment& s : segments) {
    if (!(s.flags & PF_X)) continue;
    const uint64_t begin = load_bias + s.vaddr;
    if (pc >= begin && pc < begin + s.memsz) return true;
  }
  return false;
}

uint64_t TraceContents::first_frame(const Allocation& a) const {
  const auto it = stacks.find(a.stack_id);
  return it == stacks.end() || it->second.empty() ? 0 : it->second.front();
}

const ModuleInfo* TraceContents::module_containing(uint64_t pc) const {
  // Newest first: an address range freed by dlclose may be reused by a later load.
  for (auto it = modules.rbegin(); it != modules.rend(); ++it)
    if (it->contains_code(pc)) return &*it;
  return nullptr;
}

std::vector<const ModuleInfo*> TraceContents::modules_named(const std::string& path) const {
  const std::string name = basename_of(path);
  std::vector<const ModuleInfo*> out;
  for (const ModuleInfo& m : modules)
    if (basename_of(m.path) == name) out.push_back(&m);
  return out;
}

TraceContents read_trace(const std::string& path) {
  analysis::TraceReader reader(path);
  TraceContents out;
  out.path = path;
  out.header = reader.info().header;
  ContentsBuilder builder(out);
  reader.read(builder);
  out.truncated = reader.info().truncated;
  out.frames = reader.info().frames;
  out.ring_chunks = reader.info().ring_chunks;
  return out;
}

Selector from_module(const std::string& path) {
  return [name = basename_of(path)](const TraceContents& t, const Allocation& a) {
    const uint64_t pc = t.first_frame(a);
    // A return address: the call instruction that made the allocation ends just before it.
    const ModuleInfo* m = pc ? t.module_containing(pc - 1) : nullptr;
    return m && basename_of(m->path) == name;
  };
}

Selector of_sizes(std::set<uint64_t> sizes) {
  return [sizes = std::move(sizes)](const TraceContents&, const Allocation& a) {
    return sizes.count(a.size) > 0;
  };
}

EventCounts count_events(const TraceContents& trace, const Selector& select) {
  EventCounts c;
  for (const Allocation& a : trace.allocations) {
    if (select && !select(trace, a)) continue;
    ++c.allocations;
    c.bytes += a.size;
    ++c.allocs_by_api[a.api];
    c.sizes_by_api[a.api].push_back(a.size);
    ++c.sizes[a.size];
    ++c.allocs_by_thread[a.tid];
    ++c.allocs_by_call_site[trace.first_frame(a)];
    if (a.freed_by) {
      ++c.frees;
      ++c.frees_by_api[*a.freed_by];
    } else {
      ++c.live;
      c.live_bytes += a.size;
      c.live_sizes.push_back(a.size);
    }
  }
  for (auto& [api, sizes] : c.sizes_by_api) std::sort(sizes.begin(), sizes.end());
  std::sort(c.live_sizes.begin(), c.live_sizes.end());
  return c;
}

EventCounts count_events(const std::string& trace_path, const Selector& select) {
  return count_events(read_trace(trace_path), select);
}

}  // namespace heapline::e2e
