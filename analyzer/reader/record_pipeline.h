// Reading a trace on two cores: the reader (decompression, record decoding, the time-ordered
// merge of the threads' chunks) runs on a thread of its own and hands the records, in batches,
// to the caller's thread, which feeds them to the visitor (the model, a replay).
//
// The visitor sees exactly the records, in exactly the order, that TraceReader::read would give
// it, so every figure is the same; only the wall time changes: a report takes about as long as
// the slower of the two halves instead of their sum. A TraceError met by the reader is thrown
// here after the visitor got every record before it, as TraceReader::read does; an exception
// thrown by the visitor stops the reader and is rethrown.
//
// Memory: a fixed number of batches in flight (under a MiB), whatever the trace's length.
#pragma once

#include "reader/record_batch.h"
#include "reader/records.h"
#include "reader/trace_reader.h"

namespace heapline::analysis {

namespace pipeline {

class BatchConsumer {
 public:
  virtual ~BatchConsumer() = default;
  virtual void consume(const Batch& batch) = 0;
};

// The pipeline itself: reads on a second thread, hands every batch, in order, to `consumer` on
// the caller's. False, having read nothing, when the process may run on one CPU only (the two
// threads would only take turns).
bool read_batches(TraceReader& reader, BatchConsumer& consumer);

}  // namespace pipeline

// Replays every record of `reader` in time order into `visitor`, reading on a second thread
// (serially, as TraceReader::read, when the process may run on one CPU only). A Visitor of a
// final class gets its records through direct calls (record_batch.h).
template <typename Visitor>
void read_pipelined(TraceReader& reader, Visitor& visitor) {
  struct Replay final : pipeline::BatchConsumer {
    explicit Replay(Visitor& v) : visitor(v) {}
    void consume(const pipeline::Batch& batch) override {
      pipeline::replay_batch(batch, visitor, argv);
    }
    Visitor& visitor;
    std::vector<std::string_view> argv;
  } replay(visitor);
  if (!pipeline::read_batches(reader, replay)) reader.read(visitor);
}

}  // namespace heapline::analysis
