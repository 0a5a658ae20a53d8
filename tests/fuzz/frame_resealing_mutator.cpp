// libFuzzer custom mutator for trace_reader_fuzz: libFuzzer's own mutation, then the checksum of
// every compressed-frame header it can walk to is recomputed.
//
// Why: a frame header carries a checksum over its fields (trace_format.h), so almost every
// mutation of a header's tid, seq, base_time or sizes is rejected at the checksum and never
// reaches the code that merges chunks by time and thread, or that checks a frame's sizes against
// what zstd returns. Resealing lets those mutations through. One mutation in four is left
// unsealed, so torn headers keep reaching the checksum check too.
//
// Only the libFuzzer build links this (LLVMFuzzerMutate is libFuzzer's); corpus replay does not
// need it. The layout comes from trace_format.h, so a format change needs no edit here.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "heapline/trace_format.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  using namespace heapline::format;
  size = LLVMFuzzerMutate(data, size, max_size);
  if (seed % 4 == 0 || size < sizeof(FileHeader)) return size;
  FileHeader file;
  std::memcpy(&file, data, sizeof file);
  if (!header_is_valid(file)) return size;
  // The frames follow each other from data_offset, as the reader walks them.
  for (uint64_t offset = file.data_offset;
       offset >= sizeof file && offset <= size && size - offset >= sizeof(FrameHeader);) {
    FrameHeader frame;
    std::memcpy(&frame, data + offset, sizeof frame);
    if (frame.magic != kFrameMagic) break;
    frame.header_checksum = frame_header_checksum(frame);
    std::memcpy(data + offset, &frame, sizeof frame);
    offset += sizeof frame + frame.compressed_size;
  }
  return size;
}
