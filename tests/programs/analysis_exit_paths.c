// Ends in the way argv[1] says: return | exit | _exit | abort | sigkill | exit_in_thread. Leaks
// 3 x 4321 bytes first (@exit_leak), so every trace has something to report.
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void* volatile g_sink[4];

static void* exit_from_thread(void* arg) {
  (void)arg;
  exit(3);
}

int main(int argc, char** argv) {
  for (int i = 0; i < 3; ++i) g_sink[i] = malloc(4321);  // @exit_leak
  const char* how = argc > 1 ? argv[1] : "return";
  if (strcmp(how, "exit") == 0) exit(7);
  if (strcmp(how, "_exit") == 0) _exit(5);
  if (strcmp(how, "_Exit") == 0) _Exit(6);
  if (strcmp(how, "abort") == 0) abort();
  if (strcmp(how, "sigkill") == 0) raise(SIGKILL);
  if (strcmp(how, "exit_in_thread") == 0) {
    pthread_t t;
    pthread_create(&t, NULL, exit_from_thread, NULL);
    pthread_join(t, NULL);
  }
  return 4;
}
