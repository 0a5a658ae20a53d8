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
// Memory: a fixed number of batches in flight (a few hundred KiB), whatever the trace's length.
#pragma once

#include "reader/records.h"
#include "reader/trace_reader.h"

namespace heapline::analysis {

// A visitor whose work per allocation and free is a lookup keyed by the block's address (the
// model's live-block map) can implement this too: the pipeline then tells it each such address
// some records ahead, so the lookup's cache line is on its way before the record arrives. On a
// big live set (a 24 MiB table for a python3 trace) those misses, not instructions, are most of
// the model's time.
class AddressLookahead {
 public:
  virtual ~AddressLookahead() = default;
  virtual void will_see(uint64_t address) = 0;
};

// Replays every record of `reader` in time order into `visitor`, reading on a second thread
// (serially, as TraceReader::read, when the process may run on one CPU only).
void read_pipelined(TraceReader& reader, RecordVisitor& visitor);

}  // namespace heapline::analysis
