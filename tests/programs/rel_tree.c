/* reliability target: one process tree made with every way a program starts another. Each
 * process allocates a size no other process uses, so a test can tell whose trace is whose:
 *
 *   rel_tree                root: 2 x 1101, then in turn (waiting for each):
 *     fork                    child: 3 x 1201, exit(0)
 *     fork + exec             child execs "rel_tree leaf 1301"
 *     posix_spawn             "rel_tree leaf 1401"
 *     vfork + exec            "rel_tree leaf 1501"
 *     system()                /bin/sh -c "rel_tree leaf 1601"
 *     fork                    child: 1 x 1211, then posix_spawn "rel_tree leaf 1701" (grandchild)
 *   rel_tree leaf S         4 x S, all freed, return 0
 *
 * The root prints "tree: 6 children ok" and exits 0; 10 means a child failed.
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;
static const char* g_self;

static void escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

static void allocate_and_free(int count, size_t size) {
  void* blocks[8];
  for (int i = 0; i < count; ++i) escape(blocks[i] = malloc(size));
  for (int i = 0; i < count; ++i) free(blocks[i]);
}

static void expect_success(pid_t pid, const char* what) {
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fprintf(stderr, "rel_tree: %s failed\n", what);
    exit(10);
  }
}

static pid_t spawn_leaf(const char* size) {
  char* const argv[] = {(char*)g_self, (char*)"leaf", (char*)size, NULL};
  pid_t pid;
  return posix_spawn(&pid, g_self, NULL, NULL, argv, environ) == 0 ? pid : -1;
}

int main(int argc, char** argv) {
  g_self = argv[0];
  if (argc == 3 && strcmp(argv[1], "leaf") == 0) {
    allocate_and_free(4, (size_t)atol(argv[2]));
    return 0;
  }
  allocate_and_free(2, 1101);
  fflush(stdout);

  pid_t pid = fork();
  if (pid == 0) {
    allocate_and_free(3, 1201);
    exit(0);
  }
  expect_success(pid, "fork");

  pid = fork();
  if (pid == 0) {
    execl(g_self, g_self, "leaf", "1301", (char*)NULL);
    _exit(127);
  }
  expect_success(pid, "fork+exec");

  expect_success(spawn_leaf("1401"), "posix_spawn");

  pid = vfork();
  if (pid == 0) {
    execl(g_self, g_self, "leaf", "1501", (char*)NULL);
    _exit(127);
  }
  expect_success(pid, "vfork+exec");

  char command[4200];
  snprintf(command, sizeof command, "'%s' leaf 1601", g_self);
  const int rc = system(command);
  if (rc != 0) {
    fprintf(stderr, "rel_tree: system() returned %d\n", rc);
    return 10;
  }

  pid = fork();
  if (pid == 0) {
    allocate_and_free(1, 1211);
    expect_success(spawn_leaf("1701"), "grandchild posix_spawn");
    exit(0);
  }
  expect_success(pid, "fork with grandchild");

  printf("tree: 6 children ok\n");
  return 0;
}
