// What the recorder does when its trace file is damaged from outside while the target runs:
// deleted, truncated (the ring is mapped MAP_SHARED, so a store into a page past the new end of
// the file raises SIGBUS in whichever thread touches it), or out of disk space. The target must
// go on unharmed, and heapline says what happened once and stops recording.
//
//  - A SIGBUS handler, installed once per process when the first trace is created, turns a
//    fault inside the trace mapping into "put anonymous memory there and retry the store"; any
//    other SIGBUS goes to the handler the program had before (or kills it as it would have).
//    A program that installs its own SIGBUS handler afterwards replaces ours: then a truncated
//    trace is its business, as it is without heapline.
//  - The drain thread checks the file (fstat) on every pass and stops recording, with one
//    message, once it is deleted, truncated or cannot get more disk blocks.
#pragma once

#include <cstddef>

namespace heapline::preload {

// Installs the SIGBUS handler if this process has not yet (idempotent, also after fork).
void install_file_guard();

// Drain thread: returns true, with what happened in `why`, when the trace file can no longer
// be written (then the caller stops recording). Detaches the mapping of a truncated file.
bool trace_file_damaged(char* why, size_t why_size);

}  // namespace heapline::preload
