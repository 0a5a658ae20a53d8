// fork and exec (tests/programs/e2e_fork.c): a forked child gets its own complete trace, forking
// while another thread allocates does not deadlock, and an exec'd image is traced into a new file
// next to the one its pid already wrote, never over it. The image before an exec ends its trace
// with a kExec record naming the program, whichever exec form was used; an exec that fails is
// voided (an empty kExec) and recording goes on.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "trace_contents.h"
#include "traced_process.h"

namespace heapline::e2e {
namespace {

using SizeCounts = std::map<uint64_t, uint64_t>;

std::string file_name(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// What the program itself allocated, as size -> count.
SizeCounts own_sizes(const TraceContents& t) {
  return count_events(t, from_module(E2E_FORK)).sizes;
}

// A trace that starts like every trace must: header, process record, the executable's module.
void expect_complete_start(const TraceContents& t, uint32_t pid, uint32_t ppid) {
  EXPECT_EQ(t.header.pid, pid) << t.path;
  EXPECT_EQ(t.header.ppid, ppid) << t.path;
  ASSERT_EQ(t.processes.size(), 1u) << t.path;
  EXPECT_EQ(t.processes[0].pid, pid);
  EXPECT_EQ(t.processes[0].ppid, ppid);
  EXPECT_EQ(t.modules_named(E2E_FORK).size(), 1u) << t.path;
  EXPECT_FALSE(t.truncated);
  EXPECT_EQ(t.lost_allocations, 0u);
  EXPECT_EQ(t.allocs_at_live_address, 0u) << t.path;
}

// The trace of an image that ended by exec'ing `program`, from its thread `tid`.
void expect_exec(const TraceContents& t, const std::string& program, uint32_t tid) {
  EXPECT_TRUE(t.exits.empty()) << t.path;  // exec is not an exit
  ASSERT_EQ(t.execs.size(), 1u) << t.path;
  EXPECT_EQ(t.execs[0].program, program);
  EXPECT_EQ(t.execs[0].tid, tid);
}

void expect_exit(const TraceContents& t, int status) {
  ASSERT_EQ(t.exits.size(), 1u) << t.path;
  EXPECT_EQ(t.exits[0].kind, format::ExitKind::kExit);
  EXPECT_EQ(t.exits[0].status, status);
}

class ForkExecTest : public ::testing::Test {
 protected:
  RunResult run(const std::vector<std::string>& args, const RunOptions& options = {}) {
    RunResult r = run_traced(dir_, E2E_FORK, args, options);
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.err, "");
    return r;
  }
  TempDir dir_;
};

TEST_F(ForkExecTest, ParentAndChildEachHaveTheirOwnCompleteTrace) {
  const RunResult r = run({"fork"});
  ASSERT_EQ(r.traces.size(), 2u);
  std::vector<TraceContents> traces;
  for (const std::string& path : r.traces) traces.push_back(read_trace(path));
  const bool parent_first = traces[0].header.pid == static_cast<uint32_t>(r.pid);
  const TraceContents& parent = traces[parent_first ? 0 : 1];
  const TraceContents& child = traces[parent_first ? 1 : 0];

  expect_complete_start(parent, r.pid, parent.header.ppid);
  EXPECT_EQ(own_sizes(parent), (SizeCounts{{1001, 3}, {3001, 2}}));
  expect_exit(parent, 0);

  expect_complete_start(child, child.header.pid, r.pid);
  EXPECT_NE(child.header.pid, static_cast<uint32_t>(r.pid));
  EXPECT_EQ(file_name(child.path), "t." + std::to_string(child.header.pid) + ".trace");
  EXPECT_EQ(own_sizes(child), (SizeCounts{{2001, 5}}));
  expect_exit(child, 7);
  // Everything in the child's trace happened in the child.
  for (uint32_t tid : child.thread_ids) EXPECT_EQ(tid, child.header.pid);
}

TEST_F(ForkExecTest, ChildOfAPatternWithoutPidGetsASuffixedFile) {
  RunOptions options;
  options.output = dir_.file("same.trace");
  const RunResult r = run({"fork"}, options);
  ASSERT_EQ(r.traces.size(), 2u);
  EXPECT_EQ(file_name(r.traces[0]), "same-1.trace");
  EXPECT_EQ(file_name(r.traces[1]), "same.trace");
  const TraceContents second = read_trace(r.traces[0]);
  const TraceContents first = read_trace(r.traces[1]);
  EXPECT_EQ(first.header.pid, static_cast<uint32_t>(r.pid));  // the parent created it first
  EXPECT_EQ(second.header.ppid, static_cast<uint32_t>(r.pid));
  EXPECT_EQ(own_sizes(first), (SizeCounts{{1001, 3}, {3001, 2}}));
  EXPECT_EQ(own_sizes(second), (SizeCounts{{2001, 5}}));
}

// The other threads allocate, and walk the loader's list as stack unwinders do: neither may be
// caught holding a lock that the recorder needs in the child.
TEST_F(ForkExecTest, ForkWhileAnotherThreadAllocatesDoesNotDeadlock) {
  constexpr int kChildren = 25;
  RunOptions options;
  options.timeout_ms = 30000;  // a deadlocked child hangs its parent's waitpid
  const RunResult r = run({"fork-busy", std::to_string(kChildren)}, options);
  ASSERT_FALSE(r.timed_out) << "deadlock";
  ASSERT_EQ(r.traces.size(), kChildren + 1u);
  int children = 0;
  for (const std::string& path : r.traces) {
    const TraceContents t = read_trace(path);
    if (t.header.pid == static_cast<uint32_t>(r.pid)) {
      const SizeCounts sizes = own_sizes(t);
      EXPECT_EQ(sizes.count(2003), 0u);
      EXPECT_GT(sizes.count(4001), 0u);
      EXPECT_EQ(t.allocs_at_live_address, 0u);
      expect_exit(t, 0);
      continue;
    }
    ++children;
    expect_complete_start(t, t.header.pid, r.pid);
    EXPECT_EQ(own_sizes(t), (SizeCounts{{2003, 1}})) << path;
    expect_exit(t, 0);
  }
  EXPECT_EQ(children, kChildren);
}

TEST_F(ForkExecTest, ForkThenExecTracesTheNewImageIntoItsOwnFile) {
  const RunResult r = run({"fork-exec"});
  ASSERT_EQ(r.traces.size(), 3u);
  std::map<std::string, TraceContents> by_name;
  for (const std::string& path : r.traces) by_name.emplace(file_name(path), read_trace(path));

  const TraceContents& parent = by_name.at("t." + std::to_string(r.pid) + ".trace");
  EXPECT_EQ(own_sizes(parent), SizeCounts{});
  expect_exit(parent, 0);

  // The two files of the child's pid: before the exec (fork's copy of the program) and after.
  uint32_t child = 0;
  for (const auto& [name, t] : by_name)
    if (t.header.pid != static_cast<uint32_t>(r.pid)) child = t.header.pid;
  ASSERT_NE(child, 0u);
  const std::string stem = "t." + std::to_string(child);
  ASSERT_EQ(by_name.count(stem + ".trace"), 1u);
  ASSERT_EQ(by_name.count(stem + "-1.trace"), 1u);
  const TraceContents& before = by_name.at(stem + ".trace");
  const TraceContents& after = by_name.at(stem + "-1.trace");
  expect_complete_start(before, child, r.pid);
  EXPECT_EQ(own_sizes(before), (SizeCounts{{4003, 1}}));
  expect_exec(before, E2E_FORK, child);

  expect_complete_start(after, child, r.pid);
  EXPECT_EQ(after.processes[0].argv, (std::vector<std::string>{E2E_FORK, "exec-child"}));
  const EventCounts c = count_events(after, from_module(E2E_FORK));
  EXPECT_EQ(c.sizes, (SizeCounts{{5001, 4}}));
  EXPECT_EQ(c.frees_by_api, (std::map<format::AllocApi, uint64_t>{{format::AllocApi::kFree, 4}}));
  expect_exit(after, 0);
}

TEST_F(ForkExecTest, ExecInTheSamePidKeepsThePreExecTrace) {
  const RunResult r = run({"exec-self"});
  ASSERT_EQ(r.traces.size(), 2u);
  const std::string stem = "t." + std::to_string(r.pid);
  EXPECT_EQ(file_name(r.traces[0]), stem + "-1.trace");
  EXPECT_EQ(file_name(r.traces[1]), stem + ".trace");
  const TraceContents after = read_trace(r.traces[0]);
  const TraceContents before = read_trace(r.traces[1]);

  expect_complete_start(before, r.pid, before.header.ppid);
  EXPECT_EQ(own_sizes(before), (SizeCounts{{6001, 2}}));
  expect_exec(before, E2E_FORK, r.pid);
  EXPECT_EQ(before.processes[0].argv, (std::vector<std::string>{E2E_FORK, "exec-self"}));

  expect_complete_start(after, r.pid, before.header.ppid);
  EXPECT_EQ(own_sizes(after), (SizeCounts{{5001, 4}}));
  EXPECT_EQ(after.processes[0].argv, (std::vector<std::string>{E2E_FORK, "exec-child"}));
  expect_exit(after, 0);
}

// The two traces of a run that exec'd itself in the same pid: before and after the exec.
struct ExecPair {
  TraceContents before, after;
};
ExecPair read_exec_pair(const RunResult& r) {
  EXPECT_EQ(r.traces.size(), 2u);
  if (r.traces.size() != 2) return {};
  const std::string stem = "t." + std::to_string(r.pid);
  EXPECT_EQ(file_name(r.traces[1]), stem + ".trace");
  return {read_trace(r.traces[1]), read_trace(r.traces[0])};
}

class ExecFormTest : public ForkExecTest, public ::testing::WithParamInterface<const char*> {};

// Every exec form ends the old image's trace with the program it ran, and the new image is
// traced in full. The *p forms are given a bare name: the recorded program is the one on PATH.
TEST_P(ExecFormTest, EndsTheOldImagesTraceWithTheProgramItRuns) {
  const std::string form = GetParam();
  RunOptions options;
  const std::string dir = std::filesystem::path(E2E_FORK).parent_path().string();
  options.env = {{"PATH", dir + ":/usr/bin:/bin"}};
  const RunResult r = run({"exec-via", form}, options);
  const ExecPair p = read_exec_pair(r);
  expect_complete_start(p.before, r.pid, p.before.header.ppid);
  EXPECT_EQ(own_sizes(p.before), (SizeCounts{{8001, 1}}));
  // fexecve names the file through its descriptor's /proc link: the canonical path.
  const std::string program =
      form == "fexecve" ? std::filesystem::canonical(E2E_FORK).string() : std::string(E2E_FORK);
  expect_exec(p.before, program, r.pid);

  expect_complete_start(p.after, r.pid, p.before.header.ppid);
  EXPECT_EQ(own_sizes(p.after), (SizeCounts{{5001, 4}}));
  EXPECT_TRUE(p.after.execs.empty());
  expect_exit(p.after, 0);
}

INSTANTIATE_TEST_SUITE_P(AllForms, ExecFormTest,
                         ::testing::Values("execl", "execle", "execlp", "execv", "execvp",
                                           "execvpe", "execve", "fexecve", "execveat"));

// A failed exec leaves the process running: what it allocates afterwards is recorded, and its
// trace ends by exit, with the attempt voided by an empty kExec.
TEST_F(ForkExecTest, FailedExecIsVoidedAndRecordingGoesOn) {
  const RunResult r = run({"exec-fails"});
  ASSERT_EQ(r.traces.size(), 1u);
  const TraceContents t = read_trace(r.traces[0]);
  expect_complete_start(t, r.pid, t.header.ppid);
  EXPECT_EQ(own_sizes(t), (SizeCounts{{7001, 3}, {7002, 2}}));
  ASSERT_EQ(t.execs.size(), 2u);
  EXPECT_EQ(t.execs[0].program, "/nonexistent/heapline-test-program");
  EXPECT_EQ(t.execs[1].program, "");
  expect_exit(t, 0);
}

// A vfork child runs on its parent's memory, recorder included, until it execs: its failed exec
// and its _exit(127) are not its parent's, and the parent's trace shows neither.
TEST_F(ForkExecTest, VforkChildsFailedExecAndExitStayOutOfItsParentsTrace) {
  const RunResult r = run({"vfork-exec-fails"});
  ASSERT_EQ(r.traces.size(), 1u);
  const TraceContents t = read_trace(r.traces[0]);
  EXPECT_EQ(own_sizes(t), (SizeCounts{{7003, 1}}));
  EXPECT_TRUE(t.execs.empty());
  expect_exit(t, 0);
}

// exec ends every other thread without warning: what they recorded, in chunks they still own,
// is in the old image's trace all the same.
TEST_F(ForkExecTest, ExecKeepsWhatOtherThreadsRecorded) {
  const RunResult r = run({"exec-threads"});
  const ExecPair p = read_exec_pair(r);
  const EventCounts c = count_events(p.before, from_module(E2E_FORK));
  EXPECT_EQ(c.sizes, (SizeCounts{{8003, 1000}, {6001, 1}}));
  EXPECT_EQ(c.allocs_by_thread.size(), 2u);
  expect_exec(p.before, E2E_FORK, r.pid);
  EXPECT_EQ(own_sizes(p.after), (SizeCounts{{5001, 4}}));
  expect_exit(p.after, 0);
}

}  // namespace
}  // namespace heapline::e2e
