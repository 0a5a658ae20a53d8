#include "source_text.h"
#include "lines_harness.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace heapline::lines_test {
namespace fs = std::filesystem;

std::string Outcome::describe() const {
  return (signal ? "killed by signal " + std::to_string(signal)
                 : "exit status " + std::to_string(exit_code)) +
         "; stderr: " + err.substr(0, 2000);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The process handling is tests/support's; this adapter keeps the lines tests' own shape
// (a command name looked up in PATH, the Outcome they check, a 90 s limit).
Outcome run(const std::vector<std::string>& argv, const Env& env, const std::string& stdin_path) {
  std::string program = argv.at(0);
  if (program.find('/') == std::string::npos) {
    for (const char* dirs = getenv("PATH"); dirs && *dirs;) {
      const char* colon = strchr(dirs, ':');
      const std::string dir(dirs, colon ? static_cast<size_t>(colon - dirs) : strlen(dirs));
      if (access((dir + "/" + program).c_str(), X_OK) == 0) {
        program = dir + "/" + program;
        break;
      }
      dirs = colon ? colon + 1 : "";
    }
  }
  e2e::RunOptions options;
  options.env = env;
  options.stdin_path = stdin_path;
  options.timeout_ms = 90000;
  const e2e::RunResult r =
      e2e::run_untraced(program, std::vector<std::string>(argv.begin() + 1, argv.end()), options);
  Outcome o;
  o.exit_code = r.exit_code;
  o.signal = r.timed_out ? SIGKILL : r.signal;
  o.out = r.out;
  o.err = r.err;
  return o;
}

std::string trace_run(const std::string& dir, const std::vector<std::string>& argv,
                      const std::string& stdin_path) {
  const Outcome o =
      run(argv, {{"LD_PRELOAD", HEAPLINE_PRELOAD_LIB}, {"HEAPLINE_OUTPUT", dir + "/t.%p.trace"}},
          stdin_path);
  EXPECT_TRUE(o.ok()) << argv[0] << ": " << o.describe();
  std::vector<std::string> traces;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".trace") traces.push_back(e.path().string());
  EXPECT_EQ(traces.size(), 1u) << argv[0] << " in " << dir;
  return traces.size() == 1 && o.ok() ? traces[0] : std::string();
}

std::string trace_run(const TempDir& dir, const std::vector<std::string>& argv,
                      const std::string& stdin_path) {
  return trace_run(dir.path(), argv, stdin_path);
}

Outcome heapline(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {HEAPLINE_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

nlohmann::json heapline_json(const std::vector<std::string>& args) {
  const Outcome o = heapline(args);
  EXPECT_TRUE(o.ok()) << o.describe();
  try {
    return nlohmann::json::parse(o.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON (" << e.what() << "): " << o.out.substr(0, 500);
    return {};
  }
}

uint32_t marker_line(const std::string& source, const std::string& marker) {
  return e2e::marker_line_in(std::string(LINES_SOURCES) + "/" + source, marker);
}

namespace {

// Recording lines_growth takes a second per run and ctest starts every test in its own process,
// so the traces are recorded once and kept in the build tree, keyed by the program's and the
// recorder's size and modification time (a rebuild of either records them again). A lock file
// serialises test processes that ctest -j starts together.
std::string file_key(const char* path) {
  struct stat st {};
  if (stat(path, &st) != 0) return "missing";
  return std::to_string(st.st_size) + "-" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

// Records into a directory of its own, then renames (same file system: the sparse trace is not
// copied).
std::string record_into(const fs::path& dir, const std::string& name,
                        const std::vector<std::string>& argv) {
  const fs::path scratch = dir / ("run-" + name);
  fs::create_directories(scratch);
  const std::string trace = trace_run(scratch.string(), argv);
  if (trace.empty()) return {};
  const fs::path target = dir / name;
  fs::rename(trace, target);
  fs::remove_all(scratch);
  return target.string();
}

}  // namespace

const GrowthTraces& growth_traces() {
  static const GrowthTraces traces = [] {
    const fs::path cache = LINES_TRACE_CACHE;
    fs::create_directories(cache);
    const std::string key = file_key(LINES_GROWTH) + "_" + file_key(HEAPLINE_PRELOAD_LIB);
    const fs::path dir = cache / key;
    const int lock = open((cache / ".lock").c_str(), O_RDWR | O_CREAT, 0644);
    if (lock >= 0) flock(lock, LOCK_EX);
    GrowthTraces t;
    if (fs::exists(dir / "complete")) {
      t.keep = (dir / "keep.trace").string();
      t.free_at_exit = (dir / "free.trace").string();
    } else {
      for (const auto& e : fs::directory_iterator(cache))
        if (e.is_directory()) fs::remove_all(e.path());
      fs::create_directories(dir);
      t.keep = record_into(dir, "keep.trace", {LINES_GROWTH});
      t.free_at_exit = record_into(dir, "free.trace", {LINES_GROWTH, "free"});
      if (!t.keep.empty() && !t.free_at_exit.empty())
        std::ofstream(dir / "complete") << key << "\n";
    }
    if (lock >= 0) close(lock);  // releases the lock
    return t;
  }();
  return traces;
}

}  // namespace heapline::lines_test
