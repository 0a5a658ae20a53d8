// The exec family. An exec replaces the process image without running exit handlers, so without
// these hooks the old image's trace would end with no word of how. Each hook records which program
// is about to run (kExec), seals the thread's chunk and then calls the real exec; if that returns
// (the exec failed) the process goes on, so an empty kExec voids the first one and recording
// continues as before. Policy (which process may write, what is sealed) is in lifecycle.cpp.
//
// glibc's execl, execle, execlp and execvp call its internal __execve, which no hook sees, so
// every form is defined here, the variadic ones rebuilt on the vector forms as glibc does.
#include <alloca.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "lifecycle.h"
#include "real_functions.h"

#define HEAPLINE_EXPORT __attribute__((visibility("default")))

extern char** environ;

namespace hp = heapline::preload;

namespace {

constexpr size_t kPathMax = 4096;  // the reader's limit for the kExec path (trace-format.md)

void ensure_real() {
  if (hp::real_functions_ready()) return;
  hp::HookScope scope;  // dlsym's own allocations come from the bootstrap pool under the guard
  hp::resolve_real_functions();
}

// Records the attempt, runs `real_exec`, and voids the record if the exec came back.
template <typename Exec>
int traced_exec(const char* program, Exec&& real_exec) {
  ensure_real();
  const bool recorded = hp::record_exec_attempt(program);
  const int rc = real_exec();
  if (recorded) {
    const int saved = errno;
    hp::record_exec_failed();
    errno = saved;
  }
  return rc;
}

// Copies `a` + "/" + `b` into `out` (or just `b` when `a` is empty); false if it does not fit.
bool join_path(const char* a, size_t a_len, const char* b, char* out, size_t size) {
  const size_t b_len = strlen(b);
  if (a_len + 1 + b_len + 1 > size) return false;
  size_t n = 0;
  if (a_len) {
    memcpy(out, a, a_len);
    n = a_len;
    if (out[n - 1] != '/') out[n++] = '/';
  }
  memcpy(out + n, b, b_len + 1);
  return true;
}

// The program execvp would run: `file` itself when it names a path, else the first executable
// file of that name in $PATH (glibc's default path when PATH is unset). Falls back to `file`.
const char* find_on_path(const char* file, char* out, size_t size) {
  if (!*file || strchr(file, '/')) return file;
  const char* path = getenv("PATH");
  if (!path) path = "/bin:/usr/bin";
  for (const char* dir = path;;) {
    const char* end = strchrnul(dir, ':');
    // An empty entry is the current directory: the bare name, as glibc tries it.
    if (join_path(dir, static_cast<size_t>(end - dir), file, out, size) && access(out, X_OK) == 0)
      return out;
    if (!*end) return file;
    dir = end + 1;
  }
}

// What a descriptor is open on (its /proc link), for the forms that exec a descriptor.
const char* path_of_fd(int fd, char* out, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, out, size - 1);
  if (n <= 0) {
    snprintf(out, size, "fd %d", fd);
  } else {
    out[n] = '\0';
  }
  return out;
}

const char* path_at(int dirfd, const char* path, int flags, char* out, size_t size) {
  if ((flags & AT_EMPTY_PATH) && !*path) return path_of_fd(dirfd, out, size);
  if (path[0] == '/' || dirfd == AT_FDCWD) return path;
  char dir[kPathMax];
  path_of_fd(dirfd, dir, sizeof dir);
  return join_path(dir, strlen(dir), path, out, size) ? out : path;
}

// How many arguments a variadic exec has: `first` and those after it up to the terminating null.
size_t count_args(const char* first, va_list ap) {
  if (!first) return 0;
  size_t n = 1;
  while (va_arg(ap, const char*)) ++n;
  return n;
}

}  // namespace

extern "C" {

HEAPLINE_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  return traced_exec(path, [&] { return hp::real.execve(path, argv, envp); });
}

HEAPLINE_EXPORT int execv(const char* path, char* const argv[]) {
  return traced_exec(path, [&] { return hp::real.execve(path, argv, environ); });
}

HEAPLINE_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  char found[kPathMax];
  return traced_exec(find_on_path(file, found, sizeof found),
                     [&] { return hp::real.execvpe(file, argv, envp); });
}

HEAPLINE_EXPORT int execvp(const char* file, char* const argv[]) {
  return execvpe(file, argv, environ);
}

HEAPLINE_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  char path[kPathMax];
  return traced_exec(path_of_fd(fd, path, sizeof path),
                     [&] { return hp::real.fexecve(fd, argv, envp); });
}

HEAPLINE_EXPORT int execveat(int dirfd, const char* pathname, char* const argv[],
                             char* const envp[], int flags) {
  char path[kPathMax];
  return traced_exec(path_at(dirfd, pathname, flags, path, sizeof path), [&] {
    if (hp::real.execveat) return hp::real.execveat(dirfd, pathname, argv, envp, flags);
    return static_cast<int>(syscall(SYS_execveat, dirfd, pathname, argv, envp, flags));
  });
}

// The variadic forms: argv on the stack (exec may be called where malloc may not, e.g. after
// vfork), then the vector form. argv[0..argc) are the arguments, argv[argc] the null that ends
// them, after which execle's environment follows.
#define HEAPLINE_COLLECT_ARGS(first, argv, envp_out)                        \
  va_list ap;                                                               \
  va_start(ap, first);                                                      \
  const size_t argc = count_args(first, ap);                                \
  va_end(ap);                                                               \
  auto** argv = static_cast<char**>(alloca((argc + 1) * sizeof(char*)));    \
  va_start(ap, first);                                                      \
  argv[0] = const_cast<char*>(first);                                       \
  for (size_t i = 1; i <= argc; ++i) argv[i] = va_arg(ap, char*);           \
  envp_out;                                                                 \
  va_end(ap)

HEAPLINE_EXPORT int execl(const char* path, const char* arg, ...) {
  HEAPLINE_COLLECT_ARGS(arg, argv, (void)0);
  return execve(path, argv, environ);
}

HEAPLINE_EXPORT int execlp(const char* file, const char* arg, ...) {
  HEAPLINE_COLLECT_ARGS(arg, argv, (void)0);
  return execvpe(file, argv, environ);
}

HEAPLINE_EXPORT int execle(const char* path, const char* arg, ...) {
  char* const* envp = nullptr;
  HEAPLINE_COLLECT_ARGS(arg, argv, envp = va_arg(ap, char* const*));
  return execve(path, argv, envp);
}

#undef HEAPLINE_COLLECT_ARGS

}  // extern "C"
