#include "record_pipeline.h"

#include <sched.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace heapline::analysis {
namespace {

enum class Kind : uint8_t {
  kAlloc, kFree, kStack, kModuleLoad, kModuleUnload, kProcess, kThreadName, kRss, kExit, kExec,
  kLost
};

// One record, copied out of the reader's buffers. Allocations and frees (nearly all records)
// fit in the fixed fields; the rest keep their variable parts in the batch's side stores.
struct Event {
  uint64_t time_ns;
  uint64_t a;    // alloc: size; stack: first frame in `frames`; module load: load bias;
                 // rss: bytes; exit: status; lost: allocations; with text: index in `texts`
  uint64_t b;    // alloc, free: address; stack: frame count; lost: frees
  uint32_t tid;  // process: pid; module load/unload: module id
  uint32_t c;    // alloc, stack: stack id; process: ppid
  Kind kind;
  uint8_t api;   // alloc, free: AllocApi; exit: ExitKind
};

// The variable parts of a rare record (modules, process, names, exec).
struct Text {
  std::string s1, s2;
  std::vector<Segment> segments;
  std::vector<std::string> argv;
};

struct Batch {
  // A fixed array, not a vector: appending is one store and one compare per record.
  std::unique_ptr<Event[]> events;
  size_t count = 0;
  std::vector<uint64_t> frames;
  std::vector<Text> texts;
  size_t texts_used = 0;  // texts are reused, not freed, between batches

  void clear() {
    count = 0;
    frames.clear();
    texts_used = 0;
  }
  Text& new_text(uint64_t* index) {
    *index = texts_used;
    if (texts_used == texts.size()) texts.emplace_back();
    Text& t = texts[texts_used++];
    t.s1.clear();
    t.s2.clear();
    t.segments.clear();
    t.argv.clear();
    return t;
  }
};

// About 160 KiB of events per batch: handing one over costs a lock and a wake-up, noise next to
// the microseconds its records take; three batches in flight let either side run ahead a little.
constexpr size_t kBatchEvents = 4096;
constexpr size_t kBatchFrames = 64 * 1024;
constexpr size_t kBatches = 3;

double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

// Thrown inside the reader's thread when the consumer gave up (its visitor threw).
struct Cancelled {};

class Channel {
 public:
  Channel() {
    for (size_t i = 0; i < kBatches; ++i) {
      storage_.push_back(std::make_unique<Batch>());
      storage_.back()->events = std::make_unique<Event[]>(kBatchEvents);
      empty_.push_back(storage_.back().get());
    }
  }

  // Reader side: an empty batch to fill (blocks while all are in flight).
  Batch* take_empty() {
    std::unique_lock lock(mutex_);
    empty_ready_.wait(lock, [&] { return !empty_.empty() || cancelled_; });
    if (cancelled_) throw Cancelled{};
    Batch* b = empty_.back();
    empty_.pop_back();
    b->clear();
    return b;
  }
  void publish(Batch* b) {
    {
      std::lock_guard lock(mutex_);
      full_.push_back(b);
    }
    full_ready_.notify_one();
  }
  // The reader is done, normally or with `error` (null when normally).
  void finish(std::exception_ptr error) {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
      error_ = std::move(error);
    }
    full_ready_.notify_one();
  }

  // Consumer side: the next filled batch, or null when the reader is done and all were taken.
  Batch* take_full() {
    std::unique_lock lock(mutex_);
    full_ready_.wait(lock, [&] { return !full_.empty() || done_; });
    if (full_.empty()) return nullptr;
    Batch* b = full_.front();
    full_.pop_front();
    return b;
  }
  void recycle(Batch* b) {
    {
      std::lock_guard lock(mutex_);
      empty_.push_back(b);
    }
    empty_ready_.notify_one();
  }
  void cancel() {
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
    }
    empty_ready_.notify_one();
  }
  std::exception_ptr error() {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable empty_ready_, full_ready_;
  std::vector<std::unique_ptr<Batch>> storage_;
  std::vector<Batch*> empty_;
  std::deque<Batch*> full_;
  bool done_ = false;
  bool cancelled_ = false;
  std::exception_ptr error_;
};

// The reader thread's visitor: copies each record into the current batch.
class BatchWriter : public RecordVisitor {
 public:
  explicit BatchWriter(Channel& channel) : channel_(channel), batch_(channel.take_empty()) {}

  void on_alloc(const AllocRecord& r) override {
    push({r.time_ns, r.size, r.address, r.tid, r.stack_id, Kind::kAlloc,
          static_cast<uint8_t>(r.api)});
  }
  void on_free(const FreeRecord& r) override {
    push({r.time_ns, 0, r.address, r.tid, 0, Kind::kFree, static_cast<uint8_t>(r.api)});
  }
  void on_stack(const StackRecord& r) override {
    if (batch_->frames.size() + r.frames.size() > kBatchFrames && batch_->count != 0) flush();
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
    if (batch_->count != 0) channel_.publish(batch_);
    else channel_.recycle(batch_);
    batch_ = nullptr;
  }

 private:
  [[gnu::always_inline]] void push(const Event& e) {
    batch_->events[batch_->count] = e;
    if (++batch_->count == kBatchEvents) flush();
  }
  [[gnu::noinline]] void flush() {
    channel_.publish(batch_);
    batch_ = nullptr;
    batch_ = channel_.take_empty();
  }

  Channel& channel_;
  Batch* batch_;
};

// How many records ahead the lookahead names an address: enough for a miss to memory to finish
// (a few hundred ns) before its record's turn.
constexpr size_t kLookahead = 16;

// Hands a batch's records to the visitor, as the reader would have; with kAhead, names each
// allocation's and free's address to the visitor's lookahead kLookahead records early.
template <bool kAhead>
void replay(const Batch& batch, RecordVisitor& v, AddressLookahead* ahead,
            std::vector<std::string_view>& argv) {
  const Event* events = batch.events.get();
  const size_t n = batch.count;
  auto announce = [&](size_t i) {
    const Event& f = events[i];
    if (f.kind == Kind::kAlloc || f.kind == Kind::kFree) ahead->will_see(f.b);
  };
  if constexpr (kAhead)
    for (size_t i = 0; i < kLookahead && i < n; ++i) announce(i);
  for (size_t i = 0; i < n; ++i) {
    const Event& e = events[i];
    if constexpr (kAhead)
      if (i + kLookahead < n) announce(i + kLookahead);
    switch (e.kind) {
      case Kind::kAlloc:
        v.on_alloc({e.time_ns, e.tid, static_cast<format::AllocApi>(e.api), e.a, e.b, e.c});
        break;
      case Kind::kFree:
        v.on_free({e.time_ns, e.tid, static_cast<format::AllocApi>(e.api), e.b});
        break;
      case Kind::kStack:
        v.on_stack({e.time_ns, e.tid, e.c,
                    std::span<const uint64_t>(batch.frames.data() + e.a, e.b)});
        break;
      case Kind::kModuleLoad: {
        const Text& t = batch.texts[e.a];
        v.on_module_load({e.time_ns, e.tid, e.b, t.s1, t.s2, t.segments});
        break;
      }
      case Kind::kModuleUnload:
        v.on_module_unload({e.time_ns, e.tid});
        break;
      case Kind::kProcess: {
        const Text& t = batch.texts[e.a];
        argv.assign(t.argv.begin(), t.argv.end());
        v.on_process({e.time_ns, e.tid, e.c, t.s1, argv});
        break;
      }
      case Kind::kThreadName:
        v.on_thread_name({e.time_ns, e.tid, batch.texts[e.a].s1});
        break;
      case Kind::kRss:
        v.on_rss({e.time_ns, e.a});
        break;
      case Kind::kExit:
        v.on_exit({e.time_ns, e.tid, static_cast<format::ExitKind>(e.api),
                   static_cast<int64_t>(e.a)});
        break;
      case Kind::kExec:
        v.on_exec({e.time_ns, e.tid, batch.texts[e.a].s1});
        break;
      case Kind::kLost:
        v.on_lost({e.time_ns, e.a, e.b});
        break;
    }
  }
}

}  // namespace

void read_pipelined(TraceReader& reader, RecordVisitor& visitor) {
  // Confined to one CPU (taskset), the two threads would only take turns: the copying into and
  // out of batches (~80 instructions a record) would be all the pipeline adds.
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) < 2) {
    reader.read(visitor);
    return;
  }
  Channel channel;
  double reader_ms = 0;
  const double start_ms = thread_cpu_ms();
  std::thread reading([&] {
    std::exception_ptr error;
    try {
      BatchWriter writer(channel);
      try {
        reader.read(writer);
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
  std::vector<std::string_view> argv;
  AddressLookahead* ahead = dynamic_cast<AddressLookahead*>(&visitor);
  try {
    while (Batch* batch = channel.take_full()) {
      if (ahead)
        replay<true>(*batch, visitor, ahead, argv);
      else
        replay<false>(*batch, visitor, nullptr, argv);
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
}

}  // namespace heapline::analysis
