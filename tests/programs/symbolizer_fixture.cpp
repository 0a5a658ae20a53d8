// C++ half of the symbolizer fixture: a function in a namespace (its DWARF name is mangled),
// and main(), which runs everything and prints each captured address as an ELF virtual address:
//
//   build_id <lowercase hex of NT_GNU_BUILD_ID, read from our own loaded image>
//   <name> 0x<elf vaddr>          one line per capture, plus the entry of the C++ function
#include <elf.h>
#include <link.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "symbolizer_fixture.h"

namespace heapline_fixture {

FIXTURE_NOINLINE int compute_total(int n) {  // @cxx_entry
  fixture_capture(SLOT_CXX);                  // @cxx_call
  return n + g_fixture_sink;
}

}  // namespace heapline_fixture

namespace {

// What the recorder does per module: find the object whose PT_LOAD covers an address, and
// report its load bias and build-id, both taken from the live image.
struct ModuleLookup {
  uintptr_t address = 0;
  bool found = false;
  uintptr_t bias = 0;
  char build_id[2 * 64 + 1] = {};
};

void read_build_id(const dl_phdr_info* info, char* out) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& phdr = info->dlpi_phdr[i];
    if (phdr.p_type != PT_NOTE) continue;
    auto* cursor = reinterpret_cast<const unsigned char*>(info->dlpi_addr + phdr.p_vaddr);
    const unsigned char* end = cursor + phdr.p_memsz;
    while (cursor + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) note;
      std::memcpy(&note, cursor, sizeof note);
      const unsigned char* name = cursor + sizeof note;
      const unsigned char* desc = name + ((note.n_namesz + 3) & ~3u);
      if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0 && note.n_descsz <= 64) {
        for (unsigned j = 0; j < note.n_descsz; ++j) std::sprintf(out + 2 * j, "%02x", desc[j]);
        return;
      }
      cursor = desc + ((note.n_descsz + 3) & ~3u);
    }
  }
}

int find_module(dl_phdr_info* info, size_t, void* data) {
  auto* lookup = static_cast<ModuleLookup*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& phdr = info->dlpi_phdr[i];
    const uintptr_t start = info->dlpi_addr + phdr.p_vaddr;
    if (phdr.p_type == PT_LOAD && lookup->address >= start &&
        lookup->address < start + phdr.p_memsz) {
      lookup->found = true;
      lookup->bias = info->dlpi_addr;
      read_build_id(info, lookup->build_id);
      return 1;
    }
  }
  return 0;
}

uintptr_t load_bias_of(const void* address, char* build_id_out = nullptr) {
  ModuleLookup lookup;
  lookup.address = reinterpret_cast<uintptr_t>(address);
  dl_iterate_phdr(find_module, &lookup);
  if (build_id_out != nullptr) std::strcpy(build_id_out, lookup.build_id);
  return lookup.bias;
}

void print_vaddr(const char* name, const void* runtime_address) {
  const uintptr_t runtime = reinterpret_cast<uintptr_t>(runtime_address);
  const uintptr_t vaddr = runtime - load_bias_of(runtime_address);
  std::printf("%s 0x%" PRIxPTR "\n", name, vaddr);
}

}  // namespace

int main() {
  int total = fixture_inline_caller(2) + fixture_plain_c(3) + heapline_fixture::compute_total(4);

  char build_id[2 * 64 + 1] = {};
  load_bias_of(reinterpret_cast<const void*>(&heapline_fixture::compute_total), build_id);
  std::printf("build_id %s\n", build_id);
  print_vaddr("ret_inlined", g_fixture_return_addresses[SLOT_INLINED]);
  print_vaddr("ret_plain_c", g_fixture_return_addresses[SLOT_PLAIN_C]);
  print_vaddr("ret_cxx", g_fixture_return_addresses[SLOT_CXX]);
  print_vaddr("entry_cxx", reinterpret_cast<const void*>(&heapline_fixture::compute_total));
  return total > 0 ? 0 : 1;
}
