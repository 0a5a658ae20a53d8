// Every module (executable, shared library) the process had loaded, with when it was loaded and
// unloaded, so that an address in a stack maps to the module that was there at that time, even
// after a dlclose and another dlopen reused the address range.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "reader/records.h"

namespace heapline::analysis {

struct ModuleInfo {
  std::string path;
  std::string build_id_hex;
  uint64_t load_bias = 0;
  uint64_t begin = 0;  // lowest mapped address of an executable segment
  uint64_t end = 0;    // one past the highest
  uint64_t loaded_ns = 0;
  uint64_t unloaded_ns = UINT64_MAX;
  std::vector<Segment> segments;
};

// A return address resolved to its module: what the symbolizer needs.
struct ModuleAddress {
  uint32_t module = UINT32_MAX;  // index into ModuleTable::modules(), UINT32_MAX = unknown
  uint64_t elf_vaddr = 0;        // address - load bias
};

class ModuleTable {
 public:
  void on_load(const ModuleLoadRecord& r);
  void on_unload(const ModuleUnloadRecord& r);
  // The module containing `address` at `time_ns`. A module loaded shortly after (the recorder
  // writes a dlopen's modules when dlopen returns, after the library's constructors allocated)
  // or unloaded since also counts, preferring the one live at that time.
  ModuleAddress resolve(uint64_t address, uint64_t time_ns) const;
  const std::vector<ModuleInfo>& modules() const { return modules_; }

 private:
  std::vector<ModuleInfo> modules_;
  std::vector<std::pair<uint32_t, uint32_t>> live_ids_;  // (trace module id, index) while loaded
};

}  // namespace heapline::analysis
