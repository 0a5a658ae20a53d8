// Real programs keep working under the recorder: their stdout and exit status are those of the
// untraced run and heapline prints nothing; every process they start is traced into its own
// complete trace. git (a repository made, committed to, logged, gc'ed), g++ compiling and
// linking a file (driver, cc1plus, as, collect2, ld), a multithreaded churn with exact counts,
// redis-server on loopback under redis-benchmark, and one program under glibc, jemalloc and
// tcmalloc giving the same counts.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "reliability_support.h"

namespace heapline::reliability {
namespace {

using e2e::RunOptions;
using e2e::RunResult;
using e2e::TempDir;

bool installed(const std::string& program) { return access(program.c_str(), X_OK) == 0; }

// Every trace in `dir`: readable, nothing lost or misordered, ended by exit(0). A process that
// forks and then execs leaves two traces with one pid: the forked image, which ends in the exec
// (no exit record), and the exec'd program's. Returns the traces of programs that ran to their
// end (not the images replaced by an exec).
std::vector<TraceTally> expect_complete_traces(const TempDir& dir) {
  std::vector<TraceTally> all;
  for (const std::string& path : dir.traces()) all.push_back(tally_trace(path));
  std::vector<TraceTally> out;
  for (const TraceTally& t : all) {
    SCOPED_TRACE(t.path);
    EXPECT_FALSE(t.truncated);
    EXPECT_EQ(t.lost_allocations + t.lost_frees, 0u);
    EXPECT_EQ(t.allocs_at_live_address, 0u);
    const bool replaced_by_exec = std::any_of(all.begin(), all.end(), [&](const TraceTally& o) {
      return o.header.pid == t.header.pid && o.header.start_realtime_ns > t.header.start_realtime_ns;
    });
    if (replaced_by_exec) {
      // Its trace ends by exec (after any attempts that failed and were voided).
      EXPECT_TRUE(t.exits.empty());
      EXPECT_TRUE(!t.execs.empty() && !t.execs.back().empty()) << t.exe;
      continue;
    }
    EXPECT_TRUE(t.ended_by_exit(0)) << t.exe;
    EXPECT_GT(t.allocations, 0u);
    out.push_back(t);
  }
  return out;
}

TEST(RealPrograms, GitInitCommitLogGc) {
  const std::string git = "/usr/bin/git";
  if (!installed(git)) GTEST_SKIP() << "git is not installed";
  TempDir home, plain_repo, traced_repo, traces;
  RunOptions options;
  options.env = {{"HOME", home.path()},
                 {"GIT_CONFIG_NOSYSTEM", "1"},
                 {"GIT_AUTHOR_NAME", "Reliability Test"},
                 {"GIT_AUTHOR_EMAIL", "test@example.invalid"},
                 {"GIT_AUTHOR_DATE", "2024-01-02T03:04:05Z"},
                 {"GIT_COMMITTER_NAME", "Reliability Test"},
                 {"GIT_COMMITTER_EMAIL", "test@example.invalid"},
                 {"GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z"},
                 {"LC_ALL", "C"}};
  options.output = traces.file("git.%p.trace");
  for (const TempDir* repo : {&plain_repo, &traced_repo}) {
    repo->write_file("README", "heapline reliability\n");
    repo->write_file("data.txt", std::string(10000, 'x') + "\n");
  }
  const std::vector<std::vector<std::string>> steps = {
      {"init", "-q", "-b", "main"},
      {"add", "README", "data.txt"},
      {"commit", "-q", "-m", "first commit"},
      {"log", "--stat", "--format=fuller"},
      {"status", "--short", "--branch"},
      {"gc", "-q"},
      {"fsck", "--no-progress"},
      {"rev-parse", "HEAD"},
  };
  for (const auto& step : steps) {
    SCOPED_TRACE(step[0]);
    std::vector<std::string> plain_args{"-C", plain_repo.path()}, traced_args{"-C", traced_repo.path()};
    plain_args.insert(plain_args.end(), step.begin(), step.end());
    traced_args.insert(traced_args.end(), step.begin(), step.end());
    const RunResult plain = e2e::run_untraced(git, plain_args, options);
    const RunResult traced = e2e::run_traced(traces, git, traced_args, options);
    ASSERT_TRUE(plain.exited(0)) << plain.describe();
    EXPECT_TRUE(traced.exited(0)) << traced.describe();
    EXPECT_EQ(traced.out, plain.out);
    EXPECT_EQ(traced.err, plain.err);  // nothing from heapline either
  }
  const std::vector<TraceTally> all = expect_complete_traces(traces);
  // gc runs children of its own (pack-refs, reflog, repack, pack-objects, ...).
  EXPECT_GT(all.size(), steps.size());
  for (const TraceTally& t : all) EXPECT_EQ(base_name(t.exe), "git") << t.path;
}

TEST(RealPrograms, GxxCompilesAndLinksWithEveryPassTraced) {
  const std::string gxx = "/usr/bin/g++";
  if (!installed(gxx)) GTEST_SKIP() << "g++ is not installed";
  TempDir src, plain_out, traced_out, traces;
  const std::string source = src.write_file("small.cpp", R"(#include <cstdio>
#include <map>
#include <string>
#include <vector>
int main() {
  std::map<std::string, std::vector<int>> m;
  for (int i = 0; i < 100; ++i) m["k" + std::to_string(i % 7)].push_back(i);
  for (const auto& [k, v] : m) std::printf("%s %zu\n", k.c_str(), v.size());
}
)");
  RunOptions options;
  options.output = traces.file("gxx.%p.trace");
  options.env = {{"LC_ALL", "C"}};
  const RunResult plain =
      e2e::run_untraced(gxx, {"-O1", "-o", plain_out.file("prog"), source}, options);
  const RunResult traced =
      e2e::run_traced(traces, gxx, {"-O1", "-o", traced_out.file("prog"), source}, options);
  ASSERT_TRUE(plain.exited(0)) << plain.describe();
  ASSERT_TRUE(traced.exited(0)) << traced.describe();
  EXPECT_EQ(traced.out, plain.out);
  EXPECT_EQ(traced.err, plain.err);
  // The programs it built behave the same.
  const RunResult run_plain = e2e::run_untraced(plain_out.file("prog"), {});
  const RunResult run_traced_build = e2e::run_untraced(traced_out.file("prog"), {});
  EXPECT_TRUE(run_traced_build.exited(0));
  EXPECT_EQ(run_traced_build.out, run_plain.out);
  EXPECT_EQ(run_plain.out.substr(0, 5), "k0 15");

  // Driver, compiler proper, assembler, collect2, linker: one trace each, each naming its
  // executable, children pointing at the process that started them.
  const std::vector<TraceTally> all = expect_complete_traces(traces);
  std::map<std::string, const TraceTally*> by_exe;
  for (const TraceTally& t : all) {
    const std::string exe = base_name(t.exe);
    EXPECT_EQ(by_exe.count(exe), 0u) << exe << " traced twice";
    by_exe[exe] = &t;
  }
  std::set<std::string> names;
  for (const auto& [exe, t] : by_exe) names.insert(exe);
  auto find = [&](const std::string& fragment) -> const TraceTally* {
    for (const auto& [exe, t] : by_exe)
      if (exe.find(fragment) != std::string::npos) return t;
    ADD_FAILURE() << "no trace of " << fragment << " among " << testing::PrintToString(names);
    return nullptr;
  };
  const TraceTally* driver = find("g++");
  const TraceTally* cc1plus = find("cc1plus");
  const TraceTally* as = find("-as");
  const TraceTally* collect2 = find("collect2");
  const TraceTally* ld = find("-ld");
  ASSERT_TRUE(driver && cc1plus && as && collect2 && ld);
  EXPECT_EQ(all.size(), 5u);
  EXPECT_EQ(driver->header.pid, static_cast<uint32_t>(traced.pid));
  EXPECT_EQ(cc1plus->header.ppid, driver->header.pid);
  EXPECT_EQ(as->header.ppid, driver->header.pid);
  EXPECT_EQ(collect2->header.ppid, driver->header.pid);
  EXPECT_EQ(ld->header.ppid, collect2->header.pid);
  EXPECT_GT(cc1plus->allocations, 10000u);  // it parsed <map>, <string>, <vector>
  EXPECT_NE(std::find(cc1plus->argv.begin(), cc1plus->argv.end(), source), cc1plus->argv.end());
}

TEST(RealPrograms, EightThreadsChurnForSecondsWithExactCounts) {
  constexpr long kRounds = 600000;  // about 2 s under the recorder on 2 cores
  TempDir dir;
  const RunResult r = expect_same_behaviour(dir, REL_CHURN, {"8", std::to_string(kRounds)});
  ASSERT_TRUE(r.exited(0)) << r.describe();
  ASSERT_EQ(r.traces.size(), 1u);
  const TraceTally t = tally_trace(r.traces[0]);
  EXPECT_EQ(t.lost_allocations + t.lost_frees, 0u);
  EXPECT_EQ(t.allocs_at_live_address, 0u);
  EXPECT_EQ(t.unmatched_frees, 0u);
  std::set<uint32_t> threads;
  for (uint64_t size = 20000; size < 20008; ++size) {
    SCOPED_TRACE(size);
    ASSERT_TRUE(t.sizes.count(size));
    const SizeTally& s = t.sizes.at(size);
    EXPECT_EQ(s.allocations, static_cast<uint64_t>(kRounds));
    EXPECT_EQ(s.frees, static_cast<uint64_t>(kRounds));
    ASSERT_EQ(s.threads.size(), 1u);  // each size belongs to one thread...
    EXPECT_EQ(s.freeing_threads, s.threads);
    threads.insert(*s.threads.begin());
  }
  EXPECT_EQ(threads.size(), 8u);  // ...and each thread to one size
  EXPECT_TRUE(t.ended_by_exit(0));
}

// A free TCP port on the loopback interface (the kernel's pick; released just before use).
int free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(RealPrograms, RedisServerUnderBenchmarkLoadThenShutdown) {
  const std::string server = "/usr/bin/redis-server", bench = "/usr/bin/redis-benchmark",
                    cli = "/usr/bin/redis-cli";
  if (!installed(server) || !installed(bench) || !installed(cli))
    GTEST_SKIP() << "redis-server / redis-tools are not installed (scripts/setup.sh installs them)";
  TempDir dir, data;
  const int port = free_loopback_port();
  ASSERT_GT(port, 0);
  const std::string p = std::to_string(port);
  RunOptions options;
  options.timeout_ms = 60000;
  e2e::RunningProgram redis(server,
                            {"--port", p, "--bind", "127.0.0.1", "--protected-mode", "yes",
                             "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir",
                             data.path()},
                            e2e::preload_library(), dir.file("redis.%p.trace"), options);
  ASSERT_TRUE(redis.wait_for_stdout("Ready to accept connections", 20000));

  // Bounded load: 7 commands x 20000 requests from 8 clients (a few seconds).
  const RunResult load = e2e::run_untraced(
      bench, {"-h", "127.0.0.1", "-p", p, "-n", "20000", "-c", "8", "-q", "-t",
              "set,get,incr,lpush,lpop,sadd,hset"},
      options);
  EXPECT_TRUE(load.exited(0)) << load.describe();
  for (const char* command : {"SET:", "GET:", "INCR:", "LPUSH:", "LPOP:", "SADD:", "HSET:"})
    EXPECT_NE(load.out.find(command), std::string::npos) << command << " missing: " << load.out;
  const RunResult set = e2e::run_untraced(cli, {"-p", p, "set", "reliability", "ok"}, options);
  const RunResult get = e2e::run_untraced(cli, {"-p", p, "get", "reliability"}, options);
  EXPECT_EQ(set.out, "OK\n");
  EXPECT_EQ(get.out, "ok\n");
  e2e::run_untraced(cli, {"-p", p, "shutdown", "nosave"}, options);

  RunResult r = redis.wait(30000);
  r.traces = dir.traces();
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(r.exited(0)) << r.describe();
  EXPECT_EQ(heapline_lines(r.err + r.out), std::vector<std::string>{});
  EXPECT_NE(r.out.find("ready to exit, bye bye"), std::string::npos) << r.out;
  ASSERT_EQ(r.traces.size(), 1u);
  const TraceTally t = tally_trace(r.traces[0]);
  EXPECT_FALSE(t.truncated);
  EXPECT_EQ(t.lost_allocations + t.lost_frees, 0u);
  EXPECT_EQ(t.allocs_at_live_address, 0u);
  EXPECT_TRUE(t.ended_by_exit(0));
  EXPECT_EQ(t.header.pid, static_cast<uint32_t>(r.pid));
  EXPECT_GT(t.allocations, 7u * 20000u);  // at least one allocation per request
  RecordProperty("redis_allocations", std::to_string(t.allocations));
}

// The same program under glibc's allocator, jemalloc and tcmalloc (each preloaded after
// heapline, so heapline's hooks forward to it): the same counts, size by size.
TEST(RealPrograms, SameCountsUnderGlibcJemallocAndTcmalloc) {
  struct Expected {
    uint64_t allocations, frees;
  };
  const std::map<uint64_t, Expected> expected = {
      {1013, {10, 8}}, {1011, {5, 5}}, {1019, {1, 1}}, {2039, {1, 1}}, {4079, {1, 1}},
      {1021, {4, 4}},  {1280, {2, 2}}, {1031, {6, 5}}, {1033, {3, 3}}};
  const std::vector<std::pair<std::string, std::string>> allocators = {
      {"glibc", ""},
      {"jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"},
      {"tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"}};
  for (const auto& [name, library] : allocators) {
    SCOPED_TRACE(name);
    if (!library.empty() && access(library.c_str(), R_OK) != 0) {
      ADD_FAILURE() << library << " missing (scripts/setup.sh installs it)";
      continue;
    }
    TempDir dir;
    const std::string preload =
        library.empty() ? e2e::preload_library() : e2e::preload_library() + " " + library;
    RunOptions options;
    const RunResult r =
        e2e::RunningProgram(REL_KNOWN, {}, preload, dir.file("k.%p.trace"), options).wait(30000);
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "known ok\n");
    EXPECT_EQ(heapline_lines(r.err), std::vector<std::string>{});
    const auto traces = dir.traces();
    ASSERT_EQ(traces.size(), 1u);
    const TraceTally t = tally_trace(traces[0]);
    EXPECT_EQ(t.lost_allocations + t.lost_frees, 0u);
    EXPECT_EQ(t.allocs_at_live_address, 0u);
    for (const auto& [size, want] : expected) {
      EXPECT_EQ(t.allocs_of(size), want.allocations) << size;
      EXPECT_EQ(t.frees_of(size), want.frees) << size;
    }
    if (!library.empty()) {  // the allocator really was underneath
      const bool loaded = std::any_of(t.modules.begin(), t.modules.end(), [&](const std::string& m) {
        return base_name(m) == base_name(library);
      });
      EXPECT_TRUE(loaded) << library;
    }
  }
}

}  // namespace
}  // namespace heapline::reliability
