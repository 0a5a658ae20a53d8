#include "module_map.h"

#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "../thread_state.h"
#include "../writer/record_writer.h"

namespace heapline::preload {
namespace {

using format::put_varint;

struct KnownModule {
  uint64_t load_bias;
  uint64_t name_hash;
  uint32_t id;
  uint32_t seen_in_scan;
};

constexpr int kMaxModules = 4096;
KnownModule g_known[kMaxModules];
int g_known_count = 0;
uint32_t g_next_module_id = 1;
uint32_t g_scan = 0;
std::atomic<bool> g_lock{false};  // serializes scans (dlopen from several threads at once)

uint64_t hash_name(const char* s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; ++s) h = (h ^ static_cast<unsigned char>(*s)) * 1099511628211ull;
  return h;
}

// The GNU build-id note, read from the mapped segments.
size_t find_build_id(const dl_phdr_info* info, const uint8_t** out) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const auto* p = reinterpret_cast<const uint8_t*>(info->dlpi_addr + ph.p_vaddr);
    const uint8_t* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const uint8_t* name = p + sizeof(ElfW(Nhdr));
      const uint8_t* desc = name + ((note->n_namesz + 3) & ~3u);
      const uint8_t* next = desc + ((note->n_descsz + 3) & ~3u);
      if (next > end) break;
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
        *out = desc;
        return note->n_descsz;
      }
      p = next;
    }
  }
  return 0;
}

struct ScanContext {
  uint64_t time_ns;
  bool first_object_seen;
};

void write_load_record(const dl_phdr_info* info, const char* path, uint32_t id, uint64_t time_ns) {
  ThreadState& t = t_state;
  const size_t path_len = strnlen(path, 4096);
  const uint8_t* build_id = nullptr;
  const size_t build_id_len = find_build_id(info, &build_id);
  const size_t max_body = 6 * format::kMaxVarintSize + path_len + build_id_len +
                          static_cast<size_t>(info->dlpi_phnum) * 3 * format::kMaxVarintSize;
  uint8_t* p = begin_record(t, format::RecordKind::kModuleLoad, time_ns, max_body);
  if (!p) return;
  p = put_varint(p, id);
  p = put_varint(p, info->dlpi_addr);
  p = put_string(p, path, path_len);
  p = put_string(p, reinterpret_cast<const char*>(build_id), build_id_len);
  int loads = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) loads += info->dlpi_phdr[i].p_type == PT_LOAD;
  p = put_varint(p, static_cast<uint64_t>(loads));
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    p = put_varint(p, ph.p_vaddr);
    p = put_varint(p, ph.p_memsz);
    p = put_varint(p, ph.p_flags);
  }
  commit_record(t, p, time_ns);
}

int visit_object(dl_phdr_info* info, size_t, void* data) {
  auto* ctx = static_cast<ScanContext*>(data);
  const char* name = info->dlpi_name ? info->dlpi_name : "";
  char exe_path[4096];
  const bool is_main = !ctx->first_object_seen;
  ctx->first_object_seen = true;
  if (is_main && name[0] == '\0') {
    const ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = '\0';
    name = exe_path;
  }
  if (name[0] == '\0') return 0;  // nothing to symbolize it with
  const uint64_t name_hash = hash_name(name);
  for (int i = 0; i < g_known_count; ++i) {
    if (g_known[i].load_bias == info->dlpi_addr && g_known[i].name_hash == name_hash) {
      g_known[i].seen_in_scan = g_scan;
      return 0;
    }
  }
  if (g_known_count == kMaxModules) return 0;
  KnownModule& m = g_known[g_known_count++];
  m = {info->dlpi_addr, name_hash, g_next_module_id++, g_scan};
  write_load_record(info, name, m.id, ctx->time_ns);
  return 0;
}

}  // namespace

void record_module_changes(uint64_t time_ns, bool forget_known) {
  // In a forked child (forget_known) the lock may have been held by a thread that is gone.
  if (forget_known) g_lock.store(false);
  bool expected = false;
  while (!g_lock.compare_exchange_weak(expected, true, std::memory_order_acquire)) {
    expected = false;
  }
  if (forget_known) {
    g_known_count = 0;
    g_next_module_id = 1;
  }
  ++g_scan;
  ScanContext ctx{time_ns, false};
  dl_iterate_phdr(visit_object, &ctx);
  // Whatever was not seen in this scan has been unloaded.
  int kept = 0;
  for (int i = 0; i < g_known_count; ++i) {
    if (g_known[i].seen_in_scan == g_scan) {
      g_known[kept++] = g_known[i];
      continue;
    }
    ThreadState& t = t_state;
    if (uint8_t* p = begin_record(t, format::RecordKind::kModuleUnload, time_ns,
                                  format::kMaxVarintSize)) {
      p = put_varint(p, g_known[i].id);
      commit_record(t, p, time_ns);
    }
  }
  g_known_count = kept;
  g_lock.store(false, std::memory_order_release);
}

}  // namespace heapline::preload
