// What an end-to-end test asserts against: a trace replayed through analysis::TraceReader into
// plain values (allocations with the free that ended them, modules, stacks, exit records), and
// exact counts over a chosen subset of the allocations.
//
// Target programs share their process with the C and C++ runtimes, which allocate too (stdio
// buffers, locale, thread control blocks). Tests therefore select the program's own allocations,
// usually by the module of the innermost recorded frame (from_module), and assert exact numbers
// for those.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "heapline/trace_format.h"
#include "reader/records.h"

namespace heapline::e2e {

struct Allocation {
  uint64_t time_ns;
  uint32_t tid;
  format::AllocApi api;
  uint64_t size;
  uint64_t address;
  uint32_t stack_id;
  std::optional<format::AllocApi> freed_by;  // the api of the free that ended it, if any
};

struct ModuleInfo {
  uint32_t id;
  uint64_t load_bias;
  std::string path;
  std::vector<analysis::Segment> segments;
  bool unloaded = false;
  // True when `pc` lies in one of the module's executable segments.
  bool contains_code(uint64_t pc) const;
};

struct ProcessInfo {
  uint32_t pid, ppid;
  std::string exe;
  std::vector<std::string> argv;
};

struct ExitInfo {
  format::ExitKind kind;
  int64_t status;
  uint32_t tid;
};

struct ExecInfo {
  std::string program;  // empty: the exec before failed
  uint32_t tid;
};

struct TraceContents {
  std::string path;
  format::FileHeader header{};
  bool truncated = false;
  size_t frames = 0;                    // chunks read from compressed frames (drained while it ran)
  size_t ring_chunks = 0;               // chunks read from the ring (not drained when it ended)
  std::vector<ProcessInfo> processes;   // kProcess records (one per trace)
  std::vector<Allocation> allocations;  // in time order
  std::unordered_map<uint32_t, std::vector<uint64_t>> stacks;  // id -> frames, innermost first
  std::vector<ModuleInfo> modules;       // every module ever loaded, in load order
  std::vector<uint32_t> module_unloads;  // ids, in order
  std::vector<ExitInfo> exits;
  std::vector<ExecInfo> execs;
  std::set<uint32_t> thread_ids;  // threads that wrote allocation or free records
  uint64_t frees = 0;
  uint64_t unmatched_frees = 0;         // frees of addresses no recorded allocation holds
  uint64_t allocs_at_live_address = 0;  // allocations reusing a live address: ordering bug
  uint64_t null_allocations = 0;        // allocation records with address 0 (a failed call)
  uint64_t null_frees = 0;              // free records with address 0 (free(NULL))
  uint64_t lost_allocations = 0, lost_frees = 0;
  uint64_t records = 0;

  // The innermost frame of the allocation's stack (0 when it has none).
  uint64_t first_frame(const Allocation& a) const;
  const ModuleInfo* module_containing(uint64_t pc) const;
  // Modules whose path ends with "/" + basename(path) (or equals it).
  std::vector<const ModuleInfo*> modules_named(const std::string& path) const;
};

// Replays the whole trace. Throws analysis::TraceError when it is not readable.
TraceContents read_trace(const std::string& path);

using Selector = std::function<bool(const TraceContents&, const Allocation&)>;
// Allocations whose innermost frame is code of the module with this file name.
Selector from_module(const std::string& path);
Selector of_sizes(std::set<uint64_t> sizes);

struct EventCounts {
  uint64_t allocations = 0;
  uint64_t frees = 0;  // frees of selected allocations (realloc's implicit frees included)
  uint64_t bytes = 0;
  std::map<format::AllocApi, uint64_t> allocs_by_api;
  std::map<format::AllocApi, uint64_t> frees_by_api;
  std::map<format::AllocApi, std::vector<uint64_t>> sizes_by_api;  // each sorted
  std::map<uint64_t, uint64_t> sizes;                              // size -> allocations
  std::map<uint32_t, uint64_t> allocs_by_thread;
  std::map<uint64_t, uint64_t> allocs_by_call_site;  // innermost frame -> count
  uint64_t live = 0, live_bytes = 0;                 // never freed in the trace
  std::vector<uint64_t> live_sizes;                  // sorted
};

// Counts over the selected allocations (all when `select` is empty).
EventCounts count_events(const TraceContents& trace, const Selector& select = {});
EventCounts count_events(const std::string& trace_path, const Selector& select = {});

}  // namespace heapline::e2e

// So that gtest prints API names rather than numbers in failed map comparisons.
namespace heapline::format {
inline std::ostream& operator<<(std::ostream& os, AllocApi api) {
  return os << analysis::api_name(api);
}
inline std::ostream& operator<<(std::ostream& os, ExitKind kind) {
  return os << analysis::exit_kind_name(kind);
}
}  // namespace heapline::format
