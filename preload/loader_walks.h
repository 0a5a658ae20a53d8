// Keeps fork() from happening while a thread is inside dl_iterate_phdr.
//
// dl_iterate_phdr holds the dynamic loader's write lock for the whole walk, and glibc's fork does
// not re-initialize that lock in the child (2.36 resets dl_load_lock and dl_load_tls_lock only).
// After a fork that raced with a walk in another thread, the child's lock belongs to a thread
// that does not exist there and the child's first walk hangs for ever. Without heapline a child
// that only mallocs and execs never walks; with it, every child walks at once (its module scan in
// the atfork child handler), and so does libunwind on a cold cache. So every walk in the process,
// ours, libunwind's and the program's, goes through the dl_iterate_phdr hook, which counts
// walkers; the fork prepare handler waits for them to finish and holds new ones back until fork
// has returned (tests/e2e fork_exec_test, ForkWhileAnotherThreadAllocatesDoesNotDeadlock).
#pragma once

namespace heapline::preload {

// RAII around one call of the real dl_iterate_phdr. Waits while a fork is in progress, except
// for a walk nested in another walk of the same thread (already counted).
class LoaderWalk {
 public:
  LoaderWalk();
  ~LoaderWalk();
  LoaderWalk(const LoaderWalk&) = delete;
  LoaderWalk& operator=(const LoaderWalk&) = delete;
};

// Whether this thread is inside a walk now (the fork gate lets such a thread into the recorder
// even while a fork waits: the fork waits for its walk to end as well).
bool inside_loader_walk();

// Fork prepare handler: stop new walks, wait (boundedly) for running ones to end.
void hold_loader_walks_for_fork();
// Parent and child handlers: let walks run again.
void release_loader_walks_after_fork(bool in_child);

}  // namespace heapline::preload
