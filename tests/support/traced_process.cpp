#include "traced_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

extern char** environ;

namespace heapline::e2e {
namespace fs = std::filesystem;

namespace {

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + strerror(errno));
}

// The child's environment: ours (when inherited) without anything that would change what is
// being tested.
std::vector<std::string> child_environment(const std::string& preload, const std::string& output,
                                           const EnvVars& extra, bool inherit) {
  std::vector<std::string> env;
  for (char** e = environ; inherit && *e; ++e) {
    const std::string_view v(*e);
    if (v.starts_with("LD_PRELOAD=") || v.starts_with("HEAPLINE_")) continue;
    bool overridden = false;
    for (const auto& [name, value] : extra) overridden |= v.starts_with(name + "=");
    if (!overridden) env.emplace_back(v);
  }
  if (!preload.empty()) {
    env.push_back("LD_PRELOAD=" + preload);
    env.push_back("HEAPLINE_OUTPUT=" + output);
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/heapline-e2e-XXXXXX";
  if (!mkdtemp(pattern.data())) fail("mkdtemp " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  if (getenv("HEAPLINE_E2E_KEEP")) {
    fprintf(stderr, "keeping %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<std::string> TempDir::traces() const {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(path_))
    if (entry.path().extension() == ".trace") out.push_back(entry.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string TempDir::write_file(std::string_view name, std::string_view contents) const {
  const std::string path = file(name);
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

std::string RunResult::describe() const {
  std::string s = timed_out ? "timed out"
                  : signal  ? "killed by signal " + std::to_string(signal)
                            : "exit status " + std::to_string(exit_code);
  s += "; stderr: " + err.substr(0, 2000);
  return s;
}

const std::string& preload_library() {
  static const std::string path = HEAPLINE_E2E_PRELOAD_LIB;
  return path;
}

// ---------------------------------------------------------------------------------------------

RunningProgram::RunningProgram(const std::string& program, const std::vector<std::string>& args,
                               const std::string& preload, const std::string& output,
                               const RunOptions& options) {
  std::vector<std::string> argv_strings{program};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = child_environment(preload, output, options.env, options.inherit_env);
  // Everything the child needs is prepared before fork: it only calls async-signal-safe functions.
  std::vector<char*> argv = c_strings(argv_strings);
  std::vector<char*> envp = c_strings(env_strings);
  const int in_fd = open(options.stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in_fd < 0) fail("open " + options.stdin_path);
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) fail("pipe2");
  pid_ = fork();
  if (pid_ < 0) fail("fork");
  if (pid_ == 0) {
    setpgid(0, 0);
    dup2(in_fd, STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    static const char msg[] = "run_traced: execve failed\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
  }
  setpgid(pid_, pid_);  // also from here: no race with a kill of the group
  result_.pid = pid_;
  close(in_fd);
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
}

RunningProgram::~RunningProgram() {
  if (pid_ > 0 && !reaped_) {
    kill(-pid_, SIGKILL);
    reap(true);
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

bool RunningProgram::pump(int timeout_ms) {
  pollfd fds[2];
  int n = 0;
  if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
  if (n == 0) return false;
  if (poll(fds, static_cast<nfds_t>(n), timeout_ms) <= 0) return true;
  for (int i = 0; i < n; ++i) {
    if (!fds[i].revents) continue;
    char buf[65536];
    const ssize_t got = read(fds[i].fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    const bool is_out = fds[i].fd == out_fd_;
    if (got <= 0) {
      close(fds[i].fd);
      (is_out ? out_fd_ : err_fd_) = -1;
      continue;
    }
    (is_out ? result_.out : result_.err).append(buf, static_cast<size_t>(got));
  }
  return true;
}

bool RunningProgram::reap(bool block) {
  if (reaped_) return true;
  const pid_t r = waitpid(pid_, &status_, block ? 0 : WNOHANG);
  if (r == pid_) reaped_ = true;
  return reaped_;
}

bool RunningProgram::wait_for_stdout(std::string_view marker, int timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  while (result_.out.find(marker) == std::string::npos) {
    const int64_t left = deadline - now_ms();
    if (left <= 0 || out_fd_ < 0) return false;
    pump(static_cast<int>(std::min<int64_t>(left, 100)));
  }
  return true;
}

RunResult RunningProgram::wait(int timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  int64_t exited_at = -1;
  for (;;) {
    const bool open = pump(50);
    if (exited_at < 0 && reap(false)) exited_at = now_ms();
    if (!open && exited_at >= 0) break;
    if (!open) usleep(5000);  // output closed early (or redirected): just wait for the exit
    // A grandchild that outlives the program may hold the pipes: give it a second, no more.
    if (exited_at >= 0 && now_ms() - exited_at > 1000) break;
    if (exited_at < 0 && now_ms() > deadline) {
      result_.timed_out = true;
      kill(-pid_, SIGKILL);
      reap(true);
      break;
    }
  }
  kill(-pid_, SIGKILL);  // stray descendants of the program, if any
  if (!result_.timed_out) {
    if (WIFEXITED(status_)) result_.exit_code = WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) result_.signal = WTERMSIG(status_);
  }
  return result_;
}

// ---------------------------------------------------------------------------------------------

RunResult run_traced(const TempDir& dir, const std::string& program,
                     const std::vector<std::string>& args, const RunOptions& options) {
  const std::string output = options.output.empty() ? dir.file("t.%p.trace") : options.output;
  RunResult r =
      RunningProgram(program, args, preload_library(), output, options).wait(options.timeout_ms);
  r.traces = dir.traces();
  return r;
}

RunResult run_untraced(const std::string& program, const std::vector<std::string>& args,
                       const RunOptions& options) {
  return RunningProgram(program, args, "", "", options).wait(options.timeout_ms);
}

}  // namespace heapline::e2e
