// The decoded form of trace records, and the visitor interface through which the reader hands
// them, in time order, to the model's aggregators and to `heapline dump`. String views and spans
// point into the reader's buffers and are valid only during the callback.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "heapline/trace_format.h"

namespace heapline::analysis {

struct AllocRecord {
  uint64_t time_ns;
  uint32_t tid;
  format::AllocApi api;
  uint64_t size;
  uint64_t address;
  uint32_t stack_id;
};

struct FreeRecord {
  uint64_t time_ns;
  uint32_t tid;
  format::AllocApi api;
  uint64_t address;
};

struct StackRecord {
  uint64_t time_ns;
  uint32_t tid;
  uint32_t stack_id;
  std::span<const uint64_t> frames;  // return addresses, innermost first
};

struct Segment {
  uint64_t vaddr;
  uint64_t memsz;
  uint32_t flags;  // PF_X | PF_W | PF_R
};

struct ModuleLoadRecord {
  uint64_t time_ns;
  uint32_t module_id;
  uint64_t load_bias;
  std::string_view path;
  std::string_view build_id;  // raw bytes
  std::span<const Segment> segments;
};

struct ModuleUnloadRecord {
  uint64_t time_ns;
  uint32_t module_id;
};

struct ProcessRecord {
  uint64_t time_ns;
  uint32_t pid;
  uint32_t ppid;
  std::string_view exe;
  std::span<const std::string_view> argv;
};

struct ThreadNameRecord {
  uint64_t time_ns;
  uint32_t tid;
  std::string_view name;
};

struct RssRecord {
  uint64_t time_ns;
  uint64_t rss_bytes;
};

struct ExitRecord {
  uint64_t time_ns;
  uint32_t tid;
  format::ExitKind kind;
  int64_t status;
};

// The thread is about to exec `program`; an empty `program` voids this thread's previous one
// (the exec failed and the process went on).
struct ExecRecord {
  uint64_t time_ns;
  uint32_t tid;
  std::string_view program;
};

struct LostRecord {
  uint64_t time_ns;
  uint64_t allocations;
  uint64_t frees;
};

class RecordVisitor {
 public:
  virtual ~RecordVisitor() = default;
  virtual void on_alloc(const AllocRecord&) {}
  virtual void on_free(const FreeRecord&) {}
  virtual void on_stack(const StackRecord&) {}
  virtual void on_module_load(const ModuleLoadRecord&) {}
  virtual void on_module_unload(const ModuleUnloadRecord&) {}
  virtual void on_process(const ProcessRecord&) {}
  virtual void on_thread_name(const ThreadNameRecord&) {}
  virtual void on_rss(const RssRecord&) {}
  virtual void on_exit(const ExitRecord&) {}
  virtual void on_exec(const ExecRecord&) {}
  virtual void on_lost(const LostRecord&) {}
};

const char* api_name(format::AllocApi api);
const char* exit_kind_name(format::ExitKind kind);

}  // namespace heapline::analysis
