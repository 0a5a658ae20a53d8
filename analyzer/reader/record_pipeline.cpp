#include "record_pipeline.h"

#include "batch_channel.h"
#include "trace_reader_records.h"

#include <sched.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace heapline::analysis::pipeline {
namespace {

// 80 KiB of events per batch (a hand-over costs a lock, noise next to the ~0.1 ms its records
// take), 8 batches in flight: either side can run ~0.5 ms ahead of the other.
constexpr size_t kBatchEvents = 2048;
constexpr size_t kBatchFrames = 64 * 1024;
constexpr size_t kBatches = 8;

double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

// The reader thread's visitor: copies each record into the current batch.
class BatchWriter final : public RecordVisitor {
 public:
  explicit BatchWriter(BatchChannel& channel) : channel_(channel) { take(); }

  void on_alloc(const AllocRecord& r) override {
    push({r.time_ns, r.size, r.address, r.tid, r.stack_id, Kind::kAlloc,
          static_cast<uint8_t>(r.api)});
  }
  void on_free(const FreeRecord& r) override {
    push({r.time_ns, 0, r.address, r.tid, 0, Kind::kFree, static_cast<uint8_t>(r.api)});
  }
  void on_stack(const StackRecord& r) override {
    if (batch_->frames.size() + r.frames.size() > kBatchFrames && next_ != batch_->events.get())
      flush();
    const uint64_t first = batch_->frames.size();
    batch_->frames.insert(batch_->frames.end(), r.frames.begin(), r.frames.end());
    push({r.time_ns, first, r.frames.size(), r.tid, r.stack_id, Kind::kStack, 0});
  }
  void on_module_load(const ModuleLoadRecord& r) override {
    uint64_t index;
    Text& t = batch_->new_text(&index);
    t.s1 = r.path;
    t.s2 = r.build_id;
    t.segments.assign(r.segments.begin(), r.segments.end());
    push({r.time_ns, index, r.load_bias, r.module_id, 0, Kind::kModuleLoad, 0});
  }
  void on_module_unload(const ModuleUnloadRecord& r) override {
    push({r.time_ns, 0, 0, r.module_id, 0, Kind::kModuleUnload, 0});
  }
  void on_process(const ProcessRecord& r) override {
    uint64_t index;
    Text& t = batch_->new_text(&index);
    t.s1 = r.exe;
    t.argv.assign(r.argv.begin(), r.argv.end());
    push({r.time_ns, index, 0, r.pid, r.ppid, Kind::kProcess, 0});
  }
  void on_thread_name(const ThreadNameRecord& r) override {
    uint64_t index;
    batch_->new_text(&index).s1 = r.name;
    push({r.time_ns, index, 0, r.tid, 0, Kind::kThreadName, 0});
  }
  void on_rss(const RssRecord& r) override {
    push({r.time_ns, r.rss_bytes, 0, 0, 0, Kind::kRss, 0});
  }
  void on_exit(const ExitRecord& r) override {
    push({r.time_ns, static_cast<uint64_t>(r.status), 0, r.tid, 0, Kind::kExit,
          static_cast<uint8_t>(r.kind)});
  }
  void on_exec(const ExecRecord& r) override {
    uint64_t index;
    batch_->new_text(&index).s1 = r.program;
    push({r.time_ns, index, 0, r.tid, 0, Kind::kExec, 0});
  }
  void on_lost(const LostRecord& r) override {
    push({r.time_ns, r.allocations, r.frees, 0, 0, Kind::kLost, 0});
  }

  // Hands over what is left (the reader is done).
  void flush_last() {
    seal();
    if (batch_->count != 0) channel_.publish(batch_);
    else channel_.recycle(batch_);
    batch_ = nullptr;
  }

 private:
  [[gnu::always_inline]] void push(const Event& e) {
    *next_ = e;
    if (++next_ == end_) flush();
  }
  [[gnu::noinline]] void flush() {
    seal();
    channel_.publish(batch_);
    batch_ = nullptr;
    take();
  }
  void seal() { batch_->count = static_cast<size_t>(next_ - batch_->events.get()); }
  void take() {
    batch_ = channel_.take_empty();
    next_ = batch_->events.get();
    end_ = next_ + kBatchEvents;
  }

  BatchChannel& channel_;
  Batch* batch_ = nullptr;
  // Where the next event goes, and the batch's end: kept here, not as batch_->count, so that
  // the store of an event is all that writing one costs (10 of the reader's ~160 instructions a
  // record went to reloading the batch and its count).
  Event* next_ = nullptr;
  Event* end_ = nullptr;
};

}  // namespace

bool read_batches(TraceReader& reader, BatchConsumer& consumer) {
  // Confined to one CPU (taskset), the two threads would only take turns: the copying into and
  // out of batches (~80 instructions a record) would be all the pipeline adds.
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) < 2) return false;
  BatchChannel channel(kBatches, kBatchEvents);
  double reader_ms = 0;
  const double start_ms = thread_cpu_ms();
  std::thread reading([&] {
    std::exception_ptr error;
    try {
      BatchWriter writer(channel);
      try {
        reader.read_records(writer);
      } catch (const Cancelled&) {
        throw;
      } catch (...) {
        error = std::current_exception();  // the records before it still go to the visitor
      }
      writer.flush_last();
    } catch (const Cancelled&) {
    } catch (...) {
      error = std::current_exception();
    }
    reader_ms = thread_cpu_ms();
    channel.finish(error);
  });
  try {
    while (Batch* batch = channel.take_full()) {
      consumer.consume(*batch);
      channel.recycle(batch);
    }
  } catch (...) {
    channel.cancel();
    reading.join();
    throw;
  }
  reading.join();
  // Each half's CPU time: the wall time of a pipelined read is about the larger one on an idle
  // machine, whatever the load when it is measured.
  spdlog::info("read {}: reader thread {:.1f} ms CPU, visitor thread {:.1f} ms CPU",
               reader.info().path, reader_ms, thread_cpu_ms() - start_ms);
  if (std::exception_ptr error = channel.error()) std::rethrow_exception(error);
  return true;
}

}  // namespace heapline::analysis::pipeline
