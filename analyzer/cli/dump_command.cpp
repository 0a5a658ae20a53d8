// `heapline dump TRACE`: every record in readable form, in the order the analyzer sees them.
// For debugging the recorder and for tests; the layout of this text is not a contract.
#include <cinttypes>
#include <cstdio>

#include "commands.h"
#include "reader/trace_error.h"
#include "reader/trace_reader.h"

namespace heapline::cli {
namespace {

using namespace heapline::analysis;

void print_escaped(std::string_view s) {
  for (const char c : s) {
    if (c == '\n') fputs("\\n", stdout);
    else if (c == '"' || c == '\\') printf("\\%c", c);
    else if (static_cast<unsigned char>(c) < 0x20) printf("\\x%02x", static_cast<unsigned char>(c));
    else putchar(c);
  }
}

class DumpPrinter : public RecordVisitor {
 public:
  explicit DumpPrinter(bool stacks) : stacks_(stacks) {}

  void on_alloc(const AllocRecord& r) override {
    prefix(r.time_ns, r.tid);
    printf("alloc %s size=%" PRIu64 " addr=0x%" PRIx64 " stack=%u\n", api_name(r.api), r.size,
           r.address, r.stack_id);
  }
  void on_free(const FreeRecord& r) override {
    prefix(r.time_ns, r.tid);
    printf("free %s addr=0x%" PRIx64 "\n", api_name(r.api), r.address);
  }
  void on_stack(const StackRecord& r) override {
    prefix(r.time_ns, r.tid);
    printf("stack %u depth=%zu", r.stack_id, r.frames.size());
    if (stacks_)
      for (uint64_t f : r.frames) printf(" 0x%" PRIx64, f);
    putchar('\n');
  }
  void on_module_load(const ModuleLoadRecord& r) override {
    prefix(r.time_ns, 0);
    printf("module-load %u bias=0x%" PRIx64 " path=\"", r.module_id, r.load_bias);
    print_escaped(r.path);
    printf("\" build-id=");
    for (unsigned char c : r.build_id) printf("%02x", c);
    printf(" segments=%zu\n", r.segments.size());
  }
  void on_module_unload(const ModuleUnloadRecord& r) override {
    prefix(r.time_ns, 0);
    printf("module-unload %u\n", r.module_id);
  }
  void on_process(const ProcessRecord& r) override {
    prefix(r.time_ns, 0);
    printf("process pid=%u ppid=%u exe=\"", r.pid, r.ppid);
    print_escaped(r.exe);
    printf("\" argv=[");
    for (size_t i = 0; i < r.argv.size(); ++i) {
      printf(i ? ", \"" : "\"");
      print_escaped(r.argv[i]);
      putchar('"');
    }
    printf("]\n");
  }
  void on_thread_name(const ThreadNameRecord& r) override {
    prefix(r.time_ns, r.tid);
    printf("thread-name \"");
    print_escaped(r.name);
    printf("\"\n");
  }
  void on_rss(const RssRecord& r) override {
    prefix(r.time_ns, 0);
    printf("rss %" PRIu64 "\n", r.rss_bytes);
  }
  void on_exit(const ExitRecord& r) override {
    prefix(r.time_ns, r.tid);
    printf("exit %s status=%" PRId64 "\n", exit_kind_name(r.kind), r.status);
  }
  void on_exec(const ExecRecord& r) override {
    prefix(r.time_ns, r.tid);
    printf("exec \"");
    print_escaped(r.program);
    printf("\"\n");
  }
  void on_lost(const LostRecord& r) override {
    prefix(r.time_ns, 0);
    printf("lost allocations=%" PRIu64 " frees=%" PRIu64 "\n", r.allocations, r.frees);
  }

 private:
  static void prefix(uint64_t time_ns, uint32_t tid) {
    printf("%12.6f %7u ", static_cast<double>(time_ns) / 1e9, tid);
  }
  bool stacks_;
};

}  // namespace

int dump_command(const DumpOptions& options) {
  try {
    TraceReader reader(options.trace);
    const TraceInfo& info = reader.info();
    const auto& h = info.header;
    printf("# trace %s: format version %u, pid %u, ppid %u, ring %u x %u bytes\n",
           info.path.c_str(), h.version, h.pid, h.ppid, h.chunk_count, h.chunk_size);
    printf("# %zu compressed frames (%" PRIu64 " bytes), %zu chunks read from the ring, %s\n",
           info.frames, info.compressed_bytes, info.ring_chunks,
           info.truncated ? "TRUNCATED" : "whole");
    for (const std::string& note : info.notes) printf("# note: %s\n", note.c_str());
    DumpPrinter printer(options.stacks);
    reader.read(printer);
    fflush(stdout);
    return 0;
  } catch (const TraceError& e) {
    fflush(stdout);
    fprintf(stderr, "heapline dump: %s\n", e.what());
    return 2;
  }
}

}  // namespace heapline::cli
