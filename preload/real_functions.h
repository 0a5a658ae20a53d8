// The allocator functions the hooks forward to: the next definition after ours in the symbol
// lookup order (glibc's, or jemalloc/tcmalloc when they follow us in LD_PRELOAD).
#pragma once

#include <link.h>
#include <sys/types.h>

#include <cstddef>

namespace heapline::preload {

struct RealFunctions {
  void* (*malloc)(size_t);
  void (*free)(void*);
  void* (*calloc)(size_t, size_t);
  void* (*realloc)(void*, size_t);
  int (*posix_memalign)(void**, size_t, size_t);
  void* (*aligned_alloc)(size_t, size_t);
  void* (*memalign)(size_t, size_t);
  void* (*valloc)(size_t);
  void* (*pvalloc)(size_t);
  size_t (*malloc_usable_size)(void*);
  void* (*dlopen)(const char*, int);
  int (*dlclose)(void*);
  int (*dl_iterate_phdr)(int (*)(dl_phdr_info*, size_t, void*), void*);
  void (*exit_underscore)(int) __attribute__((noreturn));
  void (*abort)() __attribute__((noreturn));
  // The exec family: only the forms that take a vector; the variadic execl* are rebuilt on
  // them (glibc's own execl* call its internal __execve, which no hook sees).
  int (*execve)(const char*, char* const[], char* const[]);
  int (*execvpe)(const char*, char* const[], char* const[]);
  int (*fexecve)(int, char* const[], char* const[]);
  int (*execveat)(int, const char*, char* const[], char* const[], int);  // null before glibc 2.34
  // C++ runtime (libstdc++): resolved by mangled name. Null when the program has no libstdc++,
  // in which case nothing can call our operator new either.
  void* (*op_new)(size_t);
  void* (*op_new_array)(size_t);
  void* (*op_new_aligned)(size_t, size_t);
  void* (*op_new_array_aligned)(size_t, size_t);
  void (*op_delete)(void*);
  void (*op_delete_array)(void*);
  void (*op_delete_aligned)(void*, size_t);
  void (*op_delete_array_aligned)(void*, size_t);
};

// Filled by resolve_real_functions(); all-null before. Hidden (as every definition of the
// recorder is, by -fvisibility=hidden, which declarations do not get): the hooks' tail calls
// then jump through it directly, not after loading its address.
extern RealFunctions real __attribute__((visibility("hidden")));

// Resolves every slot with dlsym(RTLD_NEXT). dlsym itself may allocate: those calls are served
// by the bootstrap pool (see bootstrap_pool.h). Idempotent and thread-safe.
void resolve_real_functions();
bool real_functions_ready();

}  // namespace heapline::preload
