// Runs a target program the way an end-to-end test needs it: with or without the recorder
// preloaded, with a clean environment, stdout and stderr captured separately, a timeout that kills
// the whole process group (so a deadlocked fork child cannot hang the suite), and the traces it
// left in a private temporary directory.
//
//   TempDir dir;
//   RunResult r = run_traced(dir, "/path/to/prog", {"arg"});
//   ASSERT_TRUE(r.exited(0)) << r.describe();
//   TraceContents t = read_trace(r.traces.at(0));
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace heapline::e2e {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction unless
// HEAPLINE_E2E_KEEP is set in the environment (then its path is printed for a post-mortem).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Every "*.trace" file in the directory, sorted by name.
  std::vector<std::string> traces() const;
  // Writes `contents` to file(name) and returns its path.
  std::string write_file(std::string_view name, std::string_view contents) const;

 private:
  std::string path_;
};

using EnvVars = std::vector<std::pair<std::string, std::string>>;

struct RunOptions {
  // Extra environment variables (they win over everything else). The test's own LD_PRELOAD and
  // HEAPLINE_* variables are never passed on.
  EnvVars env;
  // false: the program gets `env` alone, in that order (plus LD_PRELOAD and HEAPLINE_OUTPUT on a
  // traced run), nothing of the test's environment: for runs whose allocations must not depend
  // on who runs the suite (a program that copies its environment allocates per variable).
  bool inherit_env = true;
  // HEAPLINE_OUTPUT for traced runs; empty means "<dir>/t.%p.trace".
  std::string output;
  std::string stdin_path = "/dev/null";
  int timeout_ms = 60000;
};

struct RunResult {
  pid_t pid = -1;      // of the program (the traces' header.pid for its own trace)
  int exit_code = -1;  // the exit status when the program exited, else -1
  int signal = 0;      // the signal that killed it, else 0
  bool timed_out = false;
  std::string out, err;
  std::vector<std::string> traces;  // traces in the run's directory afterwards (traced runs)

  bool exited(int code) const { return !timed_out && signal == 0 && exit_code == code; }
  bool killed_by(int sig) const { return !timed_out && signal == sig; }
  // One line for assertion messages: status plus the beginning of stderr.
  std::string describe() const;
};

// The recorder under test (libheapline_preload.so of this build).
const std::string& preload_library();

// A program started in its own process group, for tests that act on it while it runs.
class RunningProgram {
 public:
  // `preload` empty: untraced. Otherwise LD_PRELOAD=preload and HEAPLINE_OUTPUT=output.
  RunningProgram(const std::string& program, const std::vector<std::string>& args,
                 const std::string& preload, const std::string& output, const RunOptions& options);
  ~RunningProgram();  // kills the process group if still running
  RunningProgram(const RunningProgram&) = delete;
  RunningProgram& operator=(const RunningProgram&) = delete;

  pid_t pid() const { return pid_; }
  // Reads stdout until it contains `marker`; false on timeout or end of output.
  bool wait_for_stdout(std::string_view marker, int timeout_ms);
  // Waits for the program to end (killing its group at the timeout) and collects its output.
  RunResult wait(int timeout_ms);

 private:
  bool pump(int timeout_ms);  // one poll round; false when both pipes are closed
  bool reap(bool block);

  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  RunResult result_;
};

// Runs `program args...` with the recorder writing into `dir` and waits for it.
RunResult run_traced(const TempDir& dir, const std::string& program,
                     const std::vector<std::string>& args, const RunOptions& options = {});
// The same without the recorder: the reference a traced run must be indistinguishable from.
RunResult run_untraced(const std::string& program, const std::vector<std::string>& args,
                       const RunOptions& options = {});

}  // namespace heapline::e2e
