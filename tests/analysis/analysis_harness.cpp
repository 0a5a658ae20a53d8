#include "analysis_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

#include "reader/trace_error.h"

extern char** environ;

namespace heapline::analysis_test {
namespace fs = std::filesystem;

std::string Outcome::describe() const {
  std::string s = signal ? "killed by signal " + std::to_string(signal)
                         : "exit status " + std::to_string(exit_code);
  return s + "; stderr: " + err.substr(0, 2000);
}

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Outcome run_program(const std::vector<std::string>& argv, const Env& env, const std::string& dir,
                    const RunSpec& spec) {
  std::vector<std::string> environment;
  for (char** e = environ; spec.inherit_env && *e; ++e) {
    const std::string_view v(*e);
    if (v.starts_with("LD_PRELOAD=") || v.starts_with("HEAPLINE_")) continue;
    bool overridden = false;
    for (const auto& [name, value] : env) overridden |= v.starts_with(name + "=");
    if (!overridden) environment.emplace_back(v);
  }
  for (const auto& [name, value] : env) environment.push_back(name + "=" + value);
  std::vector<char*> envp, args;
  for (std::string& s : environment) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (std::string& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  const std::string out_path = dir + "/.stdout", err_path = dir + "/.stderr";
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int in = open(spec.stdin_path.c_str(), O_RDONLY);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    setpgid(0, 0);
    execve(args[0], args.data(), envp.data());
    dprintf(2, "cannot execute %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  int status = 0;
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) throw std::runtime_error("waitpid failed");
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec > spec.timeout_s) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
    }
    usleep(2000);
  }
  Outcome o;
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  o.out = slurp(out_path);
  o.err = slurp(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return o;
}

void trace_program(Traced& run, const std::vector<std::string>& argv, const Env& env) {
  Env full = {{"LD_PRELOAD", HEAPLINE_PRELOAD_LIB},
              {"HEAPLINE_OUTPUT", run.dir.file("t.%p.trace")}};
  full.insert(full.end(), env.begin(), env.end());
  run.outcome = run_program(argv, full, run.dir.path());
  const std::vector<std::string> traces = run.dir.traces();
  ASSERT_EQ(traces.size(), 1u) << argv[0] << ": " << run.outcome.describe();
  run.trace = traces[0];
  try {
    run.report = analysis::analyze_trace(run.trace, {});
  } catch (const analysis::TraceError& e) {
    FAIL() << "analyze_trace threw: " << e.what();
  }
}

const char* preload_library() { return HEAPLINE_PRELOAD_LIB; }
const char* heapline_cli() { return HEAPLINE_CLI; }

Outcome run_cli(const std::vector<std::string>& args) {
  ScratchDir dir;
  std::vector<std::string> argv = {HEAPLINE_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, {}, dir.path());
}

uint32_t marker_line(const std::string& source, const std::string& marker) {
  std::ifstream in(std::string(ANALYSIS_SOURCES) + "/" + source);
  EXPECT_TRUE(in) << "cannot read " << source;
  // A marker is a comment after code and ends the line, so "@leak64" never matches "@leak640"
  // and the header comments that mention markers are not taken for them.
  const std::regex re("^\\s*[^/\\s].*//\\s*" + marker + "\\s*$");
  std::string text;
  uint32_t found = 0, count = 0;
  for (uint32_t n = 1; std::getline(in, text); ++n) {
    if (std::regex_search(text, re)) {
      found = n;
      ++count;
    }
  }
  EXPECT_EQ(count, 1u) << "marker " << marker << " in " << source;
  return found;
}

bool same_file(const std::string& path, const std::string& name) {
  return !path.empty() && fs::path(path).filename() == fs::path(name).filename();
}

LineFigures line_at(const Report& r, const std::string& file, uint32_t line) {
  LineFigures sum;
  for (const LineFigures& l : r.lines) {
    if (l.where.line != line || !same_file(l.where.file, file)) continue;
    sum.where = l.where;
    sum.allocations += l.allocations;
    sum.bytes_allocated += l.bytes_allocated;
    sum.peak_bytes += l.peak_bytes;
    sum.leaked_bytes += l.leaked_bytes;
    sum.leaked_blocks += l.leaked_blocks;
    sum.temporary += l.temporary;
  }
  return sum;
}

LeakTotals leaked_at(const Report& r, const std::string& file, uint32_t line) {
  LeakTotals t;
  for (const auto& g : r.leaks) {
    if (g.site.line != line || !same_file(g.site.file, file)) continue;
    t.bytes += g.bytes;
    t.blocks += g.blocks;
    ++t.groups;
  }
  return t;
}

LeakTotals leaked_in(const Report& r, const std::string& file) {
  LeakTotals t;
  for (const auto& g : r.leaks) {
    if (!same_file(g.site.file, file)) continue;
    t.bytes += g.bytes;
    t.blocks += g.blocks;
    ++t.groups;
  }
  return t;
}

std::string describe(const Report& r) {
  const auto& s = r.summary;
  char buf[512];
  snprintf(buf, sizeof buf,
           "summary: allocations=%" PRIu64 " frees=%" PRIu64 " bytes=%" PRIu64 " peak=%" PRIu64
           " leaked=%" PRIu64 "/%" PRIu64 " temporary=%" PRIu64 " complete=%d\n",
           s.allocations, s.frees, s.bytes_allocated, s.peak_bytes, s.leaked_bytes,
           s.leaked_blocks, s.temporary_allocations, r.complete ? 1 : 0);
  std::string out = buf;
  for (const auto& g : r.leaks) {
    out += "  leak " + std::to_string(g.bytes) + " B in " + std::to_string(g.blocks) +
           " at " + g.site.function + " " + g.site.file + ":" + std::to_string(g.site.line) + "\n";
    for (const auto& f : g.stack)
      out += "      " + f.function + " " + f.file + ":" + std::to_string(f.line) +
             (f.inlined ? " (inlined)" : "") + " [" + fs::path(f.module).filename().string() +
             "]\n";
  }
  for (const auto& l : r.lines)
    out += "  line " + l.where.file + ":" + std::to_string(l.where.line) + " " +
           l.where.function + " allocs=" + std::to_string(l.allocations) +
           " bytes=" + std::to_string(l.bytes_allocated) +
           " peak=" + std::to_string(l.peak_bytes) + " leaked=" + std::to_string(l.leaked_bytes) +
           "\n";
  for (const auto& w : r.warnings) out += "  warning: " + w + "\n";
  return out;
}

}  // namespace heapline::analysis_test
