/* e2e target: fork and exec in every combination the recorder must survive. fork_exec_test.cpp
 * holds the expected traces; each mode's allocation sizes are unique to the process that makes
 * them, so a test can tell whose trace holds what.
 *
 *   e2e_fork fork         parent 3 x 1001, child 5 x 2001 then exit(7), parent 2 x 3001
 *   e2e_fork fork-busy K  a thread mallocs/frees 4001 in a loop and another walks the loader's
 *                         object list (dl_iterate_phdr, as unwinders do) while main forks K
 *                         children; each child mallocs 2003 once and exits 0
 *   e2e_fork fork-exec    child mallocs 4003, then execs "e2e_fork exec-child"
 *   e2e_fork exec-self    mallocs 6001 twice, then execs "e2e_fork exec-child" in the same pid
 *   e2e_fork exec-child   mallocs 5001 four times, frees them, exits 0
 *   e2e_fork exec-via F   mallocs 8001 once, then execs "e2e_fork exec-child" through exec form F
 *                         (execl execle execlp execv execvp execvpe execve fexecve execveat; the
 *                         *p forms by bare name, found on PATH)
 *   e2e_fork exec-fails   mallocs 7001 three times, execs a program that does not exist (ENOENT
 *                         expected), then mallocs 7002 twice and returns 0
 *   e2e_fork vfork-exec-fails  vfork; the child execs a missing program and _exits 127; the
 *                         parent checks that status, mallocs 7003 once and returns 0
 *   e2e_fork exec-threads another thread mallocs 8003 1000 times and blocks; then main mallocs
 *                         6001 once and execs "e2e_fork exec-child"
 *
 * Exit status 10 means something other than the recorder went wrong (fork failed, ...).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

static void check(int ok, const char* what) {
  if (ok) return;
  fprintf(stderr, "e2e_fork: unexpected: %s\n", what);
  exit(10);
}

static void allocate(int count, size_t size) {
  for (int i = 0; i < count; ++i) escape(malloc(size));
}

static int wait_for(pid_t child) {
  int status = 0;
  check(waitpid(child, &status, 0) == child, "waitpid");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void exec_child(const char* self) {
  char* const argv[] = {(char*)self, (char*)"exec-child", NULL};
  execv(self, argv);
  check(0, "execv");
}

static int mode_fork(void) {
  allocate(3, 1001);
  const pid_t child = fork();
  check(child >= 0, "fork");
  if (child == 0) {
    allocate(5, 2001);
    exit(7);
  }
  check(wait_for(child) == 7, "child status");
  allocate(2, 3001);
  return 0;
}

static atomic_int g_stop;

static void* busy(void* arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) {
    void* p = malloc(4001);
    escape(p);
    free(p);
  }
  return NULL;
}

static int count_segments(struct dl_phdr_info* info, size_t size, void* data) {
  (void)size;
  *(long*)data += info->dlpi_phnum;
  return 0;
}

/* Without heapline, a child that does not walk the list itself never notices that the walker
 * held the loader's lock when it forked; the recorder's child must not notice either. */
static void* walk_loader(void* arg) {
  (void)arg;
  long segments = 0;
  while (!atomic_load(&g_stop)) dl_iterate_phdr(count_segments, &segments);
  return (void*)segments;
}

static int mode_fork_busy(int children) {
  pthread_t thread, walker;
  check(pthread_create(&thread, NULL, busy, NULL) == 0, "pthread_create");
  check(pthread_create(&walker, NULL, walk_loader, NULL) == 0, "pthread_create");
  for (int i = 0; i < children; ++i) {
    const pid_t child = fork();
    check(child >= 0, "fork");
    if (child == 0) {
      allocate(1, 2003);
      exit(0);
    }
    check(wait_for(child) == 0, "child status");
  }
  atomic_store(&g_stop, 1);
  pthread_join(thread, NULL);
  pthread_join(walker, NULL);
  return 0;
}

static int mode_fork_exec(const char* self) {
  const pid_t child = fork();
  check(child >= 0, "fork");
  if (child == 0) {
    allocate(1, 4003);
    exec_child(self);
  }
  check(wait_for(child) == 0, "exec'd child status");
  return 0;
}

static int mode_exec_child(void) {
  void* blocks[4];
  for (int i = 0; i < 4; ++i) blocks[i] = malloc(5001);
  for (int i = 0; i < 4; ++i) {
    escape(blocks[i]);
    free(blocks[i]);
  }
  return 0;
}

extern char** environ;

static const char* base_name(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static int mode_exec_via(const char* self, const char* form) {
  allocate(1, 8001);
  const char* name = base_name(self);
  char* const argv[] = {(char*)self, (char*)"exec-child", NULL};
  if (strcmp(form, "execl") == 0) execl(self, self, "exec-child", (char*)NULL);
  if (strcmp(form, "execle") == 0) execle(self, self, "exec-child", (char*)NULL, environ);
  if (strcmp(form, "execlp") == 0) execlp(name, self, "exec-child", (char*)NULL);
  if (strcmp(form, "execv") == 0) execv(self, argv);
  if (strcmp(form, "execvp") == 0) execvp(name, argv);
  if (strcmp(form, "execvpe") == 0) execvpe(name, argv, environ);
  if (strcmp(form, "execve") == 0) execve(self, argv, environ);
  if (strcmp(form, "fexecve") == 0) {
    const int fd = open(self, O_RDONLY | O_CLOEXEC);
    check(fd >= 0, "open self");
    fexecve(fd, argv, environ);
  }
  if (strcmp(form, "execveat") == 0) execveat(AT_FDCWD, self, argv, environ, 0);
  check(0, form);
  return 10;
}

static int mode_exec_fails(void) {
  allocate(3, 7001);
  char* const argv[] = {(char*)"/nonexistent/heapline-test-program", NULL};
  errno = 0;
  check(execv(argv[0], argv) == -1 && errno == ENOENT, "exec of a missing program fails, ENOENT");
  allocate(2, 7002);
  return 0;
}

static int mode_vfork_exec_fails(void) {
  char* const argv[] = {(char*)"/nonexistent/heapline-test-program", NULL};
  const pid_t child = vfork();
  check(child >= 0, "vfork");
  if (child == 0) {
    execv(argv[0], argv);
    _exit(127);
  }
  check(wait_for(child) == 127, "vfork child status");
  allocate(1, 7003);
  return 0;
}

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_ready = PTHREAD_COND_INITIALIZER;
static int g_allocated;

static void* allocate_and_block(void* arg) {
  (void)arg;
  allocate(1000, 8003);
  pthread_mutex_lock(&g_lock);
  g_allocated = 1;
  pthread_cond_signal(&g_ready);
  pthread_mutex_unlock(&g_lock);
  for (;;) pause();  /* until the exec ends it */
  return NULL;
}

static int mode_exec_threads(const char* self) {
  pthread_t thread;
  check(pthread_create(&thread, NULL, allocate_and_block, NULL) == 0, "pthread_create");
  pthread_mutex_lock(&g_lock);
  while (!g_allocated) pthread_cond_wait(&g_ready, &g_lock);
  pthread_mutex_unlock(&g_lock);
  allocate(1, 6001);
  exec_child(self);
  return 10;
}

int main(int argc, char** argv) {
  check(argc >= 2, "usage: e2e_fork MODE [ARG]");
  const char* mode = argv[1];
  if (strcmp(mode, "fork") == 0) return mode_fork();
  if (strcmp(mode, "fork-busy") == 0) return mode_fork_busy(argc > 2 ? atoi(argv[2]) : 20);
  if (strcmp(mode, "fork-exec") == 0) return mode_fork_exec(argv[0]);
  if (strcmp(mode, "exec-self") == 0) {
    allocate(2, 6001);
    exec_child(argv[0]);
  }
  if (strcmp(mode, "exec-child") == 0) return mode_exec_child();
  if (strcmp(mode, "exec-via") == 0 && argc > 2) return mode_exec_via(argv[0], argv[2]);
  if (strcmp(mode, "exec-fails") == 0) return mode_exec_fails();
  if (strcmp(mode, "vfork-exec-fails") == 0) return mode_vfork_exec_fails();
  if (strcmp(mode, "exec-threads") == 0) return mode_exec_threads(argv[0]);
  check(0, "unknown mode");
  return 10;
}
