#include "inflated_debug_file.h"

#include <elf.h>
#include <gelf.h>
#include <libdeflate.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace heapline::analysis {
namespace {

// Sections libdw reads only to evaluate location expressions or to list macros: symbolization
// asks for neither, so the rewritten file carries them empty and libdw treats them as absent.
// (.debug_frame stays: libdw counts it as DWARF on its own, see elf_has_dwarf_sections.)
bool is_unread_section(const char* name) {
  for (const char* unread : {".debug_loc", ".debug_loclists", ".debug_macro", ".debug_macinfo"})
    if (std::strcmp(name, unread) == 0) return true;
  return false;
}

// The deflate format cannot expand a byte into more than 1032 (258-byte matches coded in 2 bits):
// a compression header claiming more is corrupt, and must not size the memfd.
constexpr uint64_t kMaxDeflateRatio = 1032;

struct ElfEnd {
  void operator()(Elf* elf) const { elf_end(elf); }
};
struct DecompressorFree {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

// One section of the rewritten file: its header as written, and where its bytes come from.
struct SectionPlan {
  Elf64_Shdr header{};
  const unsigned char* source = nullptr;  // in the original's mapping; null: no bytes to write
  size_t source_size = 0;
  bool inflate = false;  // source is a zlib stream of header.sh_size bytes
  std::string name;
};

uint64_t align_up(uint64_t value, uint64_t alignment) {
  return alignment <= 1 ? value : (value + alignment - 1) / alignment * alignment;
}

// Plans every section; returns false with `error` empty when the file is not worth rewriting.
bool plan_sections(Elf* elf, std::vector<SectionPlan>& plan, std::string& error) {
  size_t count = 0;
  size_t names = 0;
  if (elf_getshdrnum(elf, &count) != 0 || elf_getshdrstrndx(elf, &names) != 0) {
    error = std::string("unreadable section headers: ") + elf_errmsg(-1);
    return false;
  }
  bool any_inflated = false;
  plan.resize(count);
  for (size_t i = 0; i < count; ++i) {
    Elf_Scn* scn = elf_getscn(elf, i);
    const Elf64_Shdr* shdr = scn != nullptr ? elf64_getshdr(scn) : nullptr;
    if (shdr == nullptr) {
      error = "unreadable section header " + std::to_string(i) + ": " + elf_errmsg(-1);
      return false;
    }
    SectionPlan& section = plan[i];
    section.header = *shdr;
    if (i == 0) continue;  // the null section (its size and link may hold extended counts)
    const char* name = elf_strptr(elf, names, shdr->sh_name);
    section.name = name != nullptr ? name : "";
    if (section.name.rfind(".zdebug", 0) == 0) return false;  // GNU-style: left to libdw
    if (shdr->sh_type == SHT_NOBITS || shdr->sh_size == 0) continue;
    if (is_unread_section(section.name.c_str())) {
      section.header.sh_flags &= ~static_cast<Elf64_Xword>(SHF_COMPRESSED);
      section.header.sh_size = 0;
      continue;
    }
    Elf_Data* raw = elf_rawdata(scn, nullptr);
    if (raw == nullptr || raw->d_buf == nullptr || raw->d_size != shdr->sh_size) {
      error = "section " + section.name + " lies outside the file (truncated?)";
      return false;
    }
    section.source = static_cast<const unsigned char*>(raw->d_buf);
    section.source_size = raw->d_size;
    if ((shdr->sh_flags & SHF_COMPRESSED) == 0) continue;

    Elf64_Chdr chdr;
    if (raw->d_size < sizeof chdr) {
      error = "section " + section.name + ": compression header cut short";
      return false;
    }
    std::memcpy(&chdr, raw->d_buf, sizeof chdr);
    if (chdr.ch_type != ELFCOMPRESS_ZLIB) return false;  // zstd (libdw 0.188 cannot read it either)
    section.source += sizeof chdr;
    section.source_size -= sizeof chdr;
    if (chdr.ch_size > kMaxDeflateRatio * section.source_size + 1024) {
      error = "section " + section.name + " claims " + std::to_string(chdr.ch_size) +
              " bytes inflated from " + std::to_string(section.source_size);
      return false;
    }
    section.inflate = true;
    section.header.sh_flags &= ~static_cast<Elf64_Xword>(SHF_COMPRESSED);
    section.header.sh_size = chdr.ch_size;
    section.header.sh_addralign = chdr.ch_addralign;
    any_inflated = true;
  }
  return any_inflated;
}

// Whether `image` starts with `ehdr` and `phdrs` and holds `plan`'s section headers where `ehdr`
// puts them: a kept image laid out exactly as this rewrite of the current file would lay it out.
bool headers_match(const ElfImage& image, const Elf64_Ehdr& ehdr, const Elf64_Phdr* phdrs,
                   size_t phnum, const std::vector<SectionPlan>& plan) {
  const char* data = image.data();
  if (std::memcmp(data, &ehdr, sizeof ehdr) != 0) return false;
  if (phnum != 0 && std::memcmp(data + ehdr.e_phoff, phdrs, phnum * sizeof(Elf64_Phdr)) != 0)
    return false;
  for (size_t i = 0; i < plan.size(); ++i)
    if (std::memcmp(data + ehdr.e_shoff + i * sizeof(Elf64_Shdr), &plan[i].header,
                    sizeof(Elf64_Shdr)) != 0)
      return false;
  return true;
}

}  // namespace

ElfImage ElfImage::map_file(int fd, size_t size) {
  ElfImage image;
  if (size == 0) return image;
  void* map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) return image;
  image.file_map_ = std::unique_ptr<void, Unmap>(map, Unmap{size});
  image.size_ = size;
  return image;
}

bool elf_has_dwarf_sections(Elf* elf) {
  size_t names = 0;
  if (elf == nullptr || elf_getshdrstrndx(elf, &names) != 0) return false;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type == SHT_NOBITS || shdr.sh_size == 0)
      continue;
    const char* name = elf_strptr(elf, names, shdr.sh_name);
    if (name == nullptr) continue;
    // libdw also takes the GNU .zdebug_ spelling of each.
    if (name[0] == '.' && name[1] == 'z') ++name;
    else if (name[0] == '.') ++name;
    else continue;
    if (!std::strcmp(name, "debug_info") || !std::strcmp(name, "debug_line") ||
        !std::strcmp(name, "debug_frame"))
      return true;
  }
  return false;
}

InflatedDebugFile inflate_debug_file(int fd, const std::atomic<bool>* cancel,
                                     const DebugImageCache& cache, std::string_view build_id_hex) {
  InflatedDebugFile result;
  if (elf_version(EV_CURRENT) == EV_NONE) return result;
  std::unique_ptr<Elf, ElfEnd> elf(elf_begin(fd, ELF_C_READ_MMAP, nullptr));
  if (elf == nullptr || elf_kind(elf.get()) != ELF_K_ELF) return result;
  // Only the native layout is rewritten: the headers are copied as C structs.
  const char* ident = elf_getident(elf.get(), nullptr);
  if (ident == nullptr || ident[EI_CLASS] != ELFCLASS64 || ident[EI_DATA] != ELFDATA2LSB ||
      __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
    return result;
  const Elf64_Ehdr* original_ehdr = elf64_getehdr(elf.get());
  size_t phnum = 0;
  if (original_ehdr == nullptr || elf_getphdrnum(elf.get(), &phnum) != 0) {
    result.error = std::string("unreadable ELF header: ") + elf_errmsg(-1);
    return result;
  }
  const Elf64_Phdr* phdrs = phnum != 0 ? elf64_getphdr(elf.get()) : nullptr;
  if (phnum != 0 && phdrs == nullptr) {
    result.error = std::string("unreadable program headers: ") + elf_errmsg(-1);
    return result;
  }

  std::vector<SectionPlan> plan;
  if (!plan_sections(elf.get(), plan, result.error)) return result;

  // Layout: ELF header, program headers, the sections in index order (each at its alignment),
  // then the section header table.
  Elf64_Ehdr ehdr = *original_ehdr;
  uint64_t offset = sizeof ehdr;
  ehdr.e_phoff = phnum != 0 ? offset : 0;
  offset += phnum * sizeof(Elf64_Phdr);
  for (size_t i = 1; i < plan.size(); ++i) {
    Elf64_Shdr& header = plan[i].header;
    if (header.sh_type == SHT_NOBITS || header.sh_size == 0) {
      header.sh_offset = offset;
      continue;
    }
    offset = align_up(offset, header.sh_addralign);
    header.sh_offset = offset;
    offset += header.sh_size;
  }
  offset = align_up(offset, alignof(Elf64_Shdr));
  ehdr.e_shoff = offset;
  const uint64_t total = offset + plan.size() * sizeof(Elf64_Shdr);
  struct stat st;
  if (fstat(fd, &st) != 0) return result;
  // A DWARF section's compression ratio is ~3-5: an image this much larger than its file comes
  // from a corrupt header, and would cost its size in memory before inflating fails.
  if (total > 64 * static_cast<uint64_t>(st.st_size) + (64u << 20)) {
    result.error = "inflated size " + std::to_string(total) + " implausible for a file of " +
                   std::to_string(st.st_size) + " bytes";
    return result;
  }

  const bool keep = cache.wants(total) && !build_id_hex.empty();
  if (keep) {
    ElfImage kept = cache.find(build_id_hex, total);
    if (!kept.empty() && headers_match(kept, ehdr, phdrs, phnum, plan)) {
      result.image = std::move(kept);
      result.from_cache = true;
      return result;
    }
  }

  // Anonymous memory in 2 MiB pages: ~1 ms to fault in 10 MB where 4 KiB pages (libdw's
  // malloc'd buffers) or shmem pages (a memfd) cost 8-25 ms on this machine's kernel.
  ElfImage image;
  try {
    image = ElfImage(ZeroedPages(total), total);
  } catch (const std::bad_alloc&) {
    return result;
  }
  unsigned char* const out = reinterpret_cast<unsigned char*>(image.data());

  std::memcpy(out, &ehdr, sizeof ehdr);
  if (phnum != 0) std::memcpy(out + ehdr.e_phoff, phdrs, phnum * sizeof(Elf64_Phdr));
  std::unique_ptr<libdeflate_decompressor, DecompressorFree> inflater(
      libdeflate_alloc_decompressor());
  if (inflater == nullptr) return result;
  for (size_t i = 0; i < plan.size(); ++i) {
    const SectionPlan& section = plan[i];
    std::memcpy(out + ehdr.e_shoff + i * sizeof(Elf64_Shdr), &section.header,
                sizeof(Elf64_Shdr));
    if (section.source == nullptr || section.header.sh_size == 0) continue;
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) return result;
    unsigned char* to = out + section.header.sh_offset;
    if (!section.inflate) {
      std::memcpy(to, section.source, section.source_size);
      continue;
    }
    // No actual-size pointer: a stream that ends short of sh_size is an error too.
    const libdeflate_result status =
        libdeflate_zlib_decompress(inflater.get(), section.source, section.source_size, to,
                                   section.header.sh_size, nullptr);
    if (status != LIBDEFLATE_SUCCESS) {
      result.error = "compressed section " + section.name + " does not inflate (" +
                     (status == LIBDEFLATE_SHORT_OUTPUT         ? "shorter than its header says"
                      : status == LIBDEFLATE_INSUFFICIENT_SPACE ? "longer than its header says"
                                                                : "corrupt data") +
                     ")";
      return result;
    }
  }
  if (keep && !(cancel != nullptr && cancel->load(std::memory_order_relaxed)))
    cache.store(build_id_hex, image);
  result.image = std::move(image);
  return result;
}

}  // namespace heapline::analysis
