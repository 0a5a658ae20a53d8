// A tiny logger for the recorder: formats into a stack buffer and write(2)s to stderr.
// It never allocates and never touches stdout, so it is safe inside hooks and after fork.
#pragma once

namespace heapline::preload {

// printf-style (vsnprintf into a 512-byte stack buffer), prefixed with "heapline[pid]: ".
void log_error(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace heapline::preload
