#include "log.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>

namespace heapline::preload {

void log_error(const char* format, ...) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "heapline[%d]: ", static_cast<int>(getpid()));
  va_list args;
  va_start(args, format);
  const int m = vsnprintf(buf + n, sizeof buf - n - 1, format, args);
  va_end(args);
  n = (m < 0) ? n : (n + m < static_cast<int>(sizeof buf) - 1 ? n + m : static_cast<int>(sizeof buf) - 2);
  buf[n++] = '\n';
  ssize_t ignored = write(STDERR_FILENO, buf, n);
  (void)ignored;
}

}  // namespace heapline::preload
