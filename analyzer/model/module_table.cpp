#include "module_table.h"

#include <elf.h>

#include <algorithm>

namespace heapline::analysis {

void ModuleTable::on_load(const ModuleLoadRecord& r) {
  ModuleInfo m;
  m.path = std::string(r.path);
  static constexpr char kHex[] = "0123456789abcdef";
  for (const unsigned char c : r.build_id) {
    m.build_id_hex += kHex[c >> 4];
    m.build_id_hex += kHex[c & 15];
  }
  m.load_bias = r.load_bias;
  m.loaded_ns = r.time_ns;
  m.segments.assign(r.segments.begin(), r.segments.end());
  m.begin = UINT64_MAX;
  for (const Segment& s : r.segments) {
    if (!(s.flags & PF_X)) continue;
    m.begin = std::min(m.begin, r.load_bias + s.vaddr);
    m.end = std::max(m.end, r.load_bias + s.vaddr + s.memsz);
  }
  if (m.begin == UINT64_MAX) m.begin = m.end = 0;
  live_ids_.emplace_back(r.module_id, static_cast<uint32_t>(modules_.size()));
  modules_.push_back(std::move(m));
}

void ModuleTable::on_unload(const ModuleUnloadRecord& r) {
  for (auto it = live_ids_.begin(); it != live_ids_.end(); ++it) {
    if (it->first != r.module_id) continue;
    modules_[it->second].unloaded_ns = r.time_ns;
    live_ids_.erase(it);
    return;
  }
}

ModuleAddress ModuleTable::resolve(uint64_t address, uint64_t time_ns) const {
  uint32_t best = UINT32_MAX;
  uint64_t best_distance = UINT64_MAX;
  for (uint32_t i = 0; i < modules_.size(); ++i) {
    const ModuleInfo& m = modules_[i];
    if (address < m.begin || address >= m.end) continue;
    uint64_t distance = 0;  // how far `time_ns` lies outside the module's lifetime
    if (time_ns < m.loaded_ns) distance = m.loaded_ns - time_ns;
    else if (time_ns > m.unloaded_ns) distance = time_ns - m.unloaded_ns;
    if (distance < best_distance) {
      best = i;
      best_distance = distance;
      if (distance == 0) break;
    }
  }
  if (best == UINT32_MAX) return {};
  return {best, address - modules_[best].load_bias};
}

}  // namespace heapline::analysis
