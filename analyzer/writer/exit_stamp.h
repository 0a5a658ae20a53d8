// Appends "killed by signal N" to a trace whose process died without recording its own end.
//
// A process killed by a signal cannot say so in its trace; `heapline run`, its parent, learns it
// from waitpid and stamps it: one compressed frame holding one kExit record (kind kSignal),
// appended after the last frame exactly as the recorder's drain would. Only for a trace whose
// process is gone, so nothing else writes to the file.
#pragma once

#include <string>

namespace heapline::analysis {

// Returns "" on success, else why it was not stamped (unreadable file, pid mismatch, ...).
std::string stamp_signal_exit(const std::string& trace_path, int pid, int signal);

}  // namespace heapline::analysis
