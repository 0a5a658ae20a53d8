// Tracks the loaded objects (executable, shared libraries, vDSO) and writes a kModuleLoad record
// for each new one and kModuleUnload for each gone one, so that the analyzer can symbolize
// offline by (path, build-id, load bias) after the program and its libraries are gone.
#pragma once

#include <cstdint>

namespace heapline::preload {

// Compares the loader's list with what was already recorded and writes the differences into the
// calling thread's chunk. Called at start, after dlopen/dlclose, and in a forked child (with
// `forget_known` = true, since the child's trace starts empty). Caller holds the hook guard.
void record_module_changes(uint64_t time_ns, bool forget_known = false);

}  // namespace heapline::preload
