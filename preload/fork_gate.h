// Keeps fork() from happening while another thread is inside the recorder (capturing a stack,
// interning it, writing its records).
//
// libunwind parses unwind tables on a cache miss and takes a mutex of its own for each FDE it
// parses (its memory pool's). glibc's fork resets its own locks in the child but knows nothing of
// libunwind's: after a fork that raced with another thread's cold unwind, the child holds that
// mutex for a thread that does not exist there, and the child's first cold unwind waits for ever.
// So the fork prepare handler closes this gate: it holds back threads about to enter the
// recorder and waits (boundedly) for those inside to leave; the parent and child handlers open it.
//
// Entering costs one uncontended atomic add: each thread counts itself in one of 64 stripes on
// cache lines of their own (no registry of threads, nothing to clean up when a thread exits).
#pragma once

namespace heapline::preload {

// RAII: the calling thread is inside the recorder for this object's lifetime. Waits while a
// fork is in progress, unless `may_wait` is false (a signal handler's recording: the code it
// interrupted may hold a lock that fork needs, an arena lock say), the thread is already inside
// (a nested section) or inside a loader walk (the forker waits for that walk to end).
class RecorderSection {
 public:
  explicit RecorderSection(bool may_wait = true);
  ~RecorderSection();
  RecorderSection(const RecorderSection&) = delete;
  RecorderSection& operator=(const RecorderSection&) = delete;
};

// RAII inside a section, around a wait that holds nothing a forked child would need (a producer
// waiting for the drain to free a chunk): a fork may go ahead meanwhile. Re-entering afterwards
// waits for that fork, as entering does.
class ForkWindow {
 public:
  ForkWindow();
  ~ForkWindow();
  ForkWindow(const ForkWindow&) = delete;
  ForkWindow& operator=(const ForkWindow&) = delete;

 private:
  bool opened_;
};

// Fork prepare handler: hold new sections back, wait (at most about a second: a thread inside may
// be waiting for a chunk, which holds no lock of libunwind's) for the others to leave.
void close_fork_gate();
// Parent and child handlers. In the child, the other threads' sections are gone with them.
void open_fork_gate(bool in_child);

}  // namespace heapline::preload
