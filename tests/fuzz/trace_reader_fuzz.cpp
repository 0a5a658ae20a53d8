// libFuzzer target for the trace reader: any byte string, read as a trace, must either replay
// or raise TraceError at an offset inside the input. Anything else (a crash, a sanitizer report,
// another exception, a hang, memory out of proportion to the input) is a reader bug.
// The same entry point runs in trace_reader_fuzz_replay, which every build runs over
// tests/fuzz/corpus/ as a ctest.
//
// TraceReader opens files by path, so the input goes to a memfd reopened via /proc/self/fd.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "reader/trace_error.h"
#include "reader/trace_reader.h"

namespace {

using namespace heapline::analysis;

// Touches every byte a record hands out, so that AddressSanitizer sees any view that points
// outside the reader's buffers.
class TouchingVisitor : public RecordVisitor {
 public:
  uint64_t sum = 0;

  void on_alloc(const AllocRecord& r) override { sum += r.size + r.address + r.stack_id; }
  void on_free(const FreeRecord& r) override { sum += r.address; }
  void on_stack(const StackRecord& r) override {
    for (const uint64_t f : r.frames) sum += f;
  }
  void on_module_load(const ModuleLoadRecord& r) override {
    touch(r.path);
    touch(r.build_id);
    for (const Segment& s : r.segments) sum += s.vaddr + s.memsz + s.flags;
  }
  void on_module_unload(const ModuleUnloadRecord& r) override { sum += r.module_id; }
  void on_process(const ProcessRecord& r) override {
    touch(r.exe);
    for (const std::string_view a : r.argv) touch(a);
  }
  void on_thread_name(const ThreadNameRecord& r) override { touch(r.name); }
  void on_rss(const RssRecord& r) override { sum += r.rss_bytes; }
  void on_exit(const ExitRecord& r) override { sum += static_cast<uint64_t>(r.status); }
  void on_lost(const LostRecord& r) override { sum += r.allocations + r.frees; }

 private:
  void touch(std::string_view s) {
    for (const char c : s) sum += static_cast<unsigned char>(c);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("heapline-fuzz", MFD_CLOEXEC);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (fd < 0 || ftruncate(fd, 0) != 0) return 0;
  for (size_t done = 0; done < size;) {
    const ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) return 0;
    done += static_cast<size_t>(n);
  }
  try {
    TraceReader reader(path);
    TouchingVisitor visitor;
    reader.read(visitor);
    (void)reader.info();
  } catch (const TraceError& e) {
    // The one expected failure. It must point into the file: the user is told to look there.
    if (e.offset() > size) {
      std::fprintf(stderr, "TraceError offset %llu beyond the %zu-byte input: %s\n",
                   static_cast<unsigned long long>(e.offset()), size, e.what());
      std::abort();
    }
  }
  return 0;
}
