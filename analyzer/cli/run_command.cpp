// `heapline run [-o PATH] [--depth N] -- PROG ARGS...`: runs PROG with the recorder preloaded,
// waits for it, tells on stderr where the traces went, and exits with PROG's status (128+signal
// when PROG was killed, as a shell reports it).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "commands.h"
#include "writer/exit_stamp.h"

namespace heapline::cli {
namespace fs = std::filesystem;

namespace {

// The recorder sits next to the CLI: <prefix>/bin/heapline and <prefix>/lib/libheapline_preload.so.
std::string find_preload_library() {
  if (const char* env = getenv("HEAPLINE_PRELOAD_LIB")) return env;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  for (const char* rel : {"../lib/libheapline_preload.so", "libheapline_preload.so",
                          "../lib/heapline/libheapline_preload.so"}) {
    const fs::path candidate = self.parent_path() / rel;
    if (fs::exists(candidate, ec)) return fs::weakly_canonical(candidate, ec).string();
  }
  return {};
}

}  // namespace

int run_command(const RunOptions& options) {
  if (options.command.empty()) {
    fprintf(stderr, "heapline run: no program given (usage: heapline run [-o PATH] -- PROG ARGS...)\n");
    return 2;
  }
  const std::string library = find_preload_library();
  if (library.empty()) {
    fprintf(stderr, "heapline run: cannot find libheapline_preload.so next to this executable "
                    "(set HEAPLINE_PRELOAD_LIB)\n");
    return 2;
  }
  char manifest_template[] = "/tmp/heapline-run-XXXXXX";
  const int manifest_fd = mkstemp(manifest_template);
  if (manifest_fd < 0) {
    perror("heapline run: cannot create a temporary file");
    return 2;
  }
  close(manifest_fd);
  const std::string manifest = manifest_template;

  std::string preload = library;
  if (const char* old = getenv("LD_PRELOAD"); old && *old) preload += std::string(" ") + old;
  setenv("LD_PRELOAD", preload.c_str(), 1);
  setenv("HEAPLINE_OUTPUT", options.output.c_str(), 1);
  setenv("HEAPLINE_MANIFEST", manifest.c_str(), 1);
  if (options.sample_bytes)
    setenv("HEAPLINE_SAMPLE_BYTES", std::to_string(options.sample_bytes).c_str(), 1);
  if (!options.unwind.empty()) setenv("HEAPLINE_UNWIND", options.unwind.c_str(), 1);
  if (options.depth) setenv("HEAPLINE_DEPTH", std::to_string(options.depth).c_str(), 1);

  std::vector<char*> argv;
  for (const std::string& a : options.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  const pid_t child = fork();
  if (child < 0) {
    perror("heapline run: fork");
    return 2;
  }
  if (child == 0) {
    execvp(argv[0], argv.data());
    fprintf(stderr, "heapline run: cannot run '%s': %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  // Like a shell: the terminal's ^C goes to the child; we wait for it to finish.
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  std::ifstream in(manifest);
  std::vector<std::string> traces;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    fprintf(stderr, "heapline: trace written to %s\n", line.c_str());
    traces.push_back(line);
  }
  // Our child could not record that a signal killed it: say it in its trace (the newest one of
  // its pid: an earlier one ended in exec).
  if (WIFSIGNALED(status)) {
    for (auto it = traces.rbegin(); it != traces.rend(); ++it)
      if (analysis::stamp_signal_exit(*it, child, WTERMSIG(status)).empty()) break;
  }
  unlink(manifest.c_str());
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "heapline: %s was killed by signal %d (%s)\n", argv[0], WTERMSIG(status),
            strsignal(WTERMSIG(status)));
    return 128 + WTERMSIG(status);
  }
  return 1;
}

}  // namespace heapline::cli
