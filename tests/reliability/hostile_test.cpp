// Faults injected into the trace file while the target runs (tests/programs/rel_steady.c):
// deleted, truncated to 0 (while the target waits, and while it allocates as fast as it can),
// and the disk filling up (a 2 MiB tmpfs). Each time the target's stdout, stderr and exit status
// are those of an untraced run, heapline says what happened in exactly one line, and (disk
// full) what was recorded before is readable.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "model/report_model.h"
#include "reliability_support.h"

namespace heapline::reliability {
namespace {

using e2e::RunOptions;
using e2e::RunResult;
using e2e::TempDir;

constexpr long kPhase1 = 100000;  // 9001-byte blocks before the fault

struct Outcome {
  RunResult plain, traced;
  std::vector<std::string> messages;  // heapline's lines on stderr
};

// Runs rel_steady untraced, then traced with its trace at `trace_path`; `inject` is called once
// the program printed "started" (after phase 1), before or after `go` lets phase 2 start.
Outcome run_with_fault(const TempDir& dir, const std::string& trace_path, long phase2,
                       bool fault_during_phase2, const std::function<void()>& inject,
                       const e2e::EnvVars& env = {}) {
  Outcome o;
  const std::string go = dir.file("go");
  const std::vector<std::string> args{go, std::to_string(kPhase1), std::to_string(phase2)};
  RunOptions options;
  options.timeout_ms = 60000;
  options.env = env;
  dir.write_file("go", "");
  o.plain = e2e::run_untraced(REL_STEADY, args, options);
  unlink(go.c_str());

  e2e::RunningProgram program(REL_STEADY, args, e2e::preload_library(), trace_path, options);
  EXPECT_TRUE(program.wait_for_stdout("started\n", 30000));
  if (fault_during_phase2) {
    dir.write_file("go", "");
    usleep(100000);  // phase 2 is well under way (it runs for about a second)
    inject();
  } else {
    inject();
    usleep(100000);  // let the drain thread notice, if it does, while the target waits
    dir.write_file("go", "");
  }
  o.traced = program.wait(options.timeout_ms);
  EXPECT_TRUE(o.plain.exited(0)) << o.plain.describe();
  EXPECT_TRUE(o.traced.exited(0)) << o.traced.describe();
  EXPECT_EQ(o.traced.out, o.plain.out);
  EXPECT_EQ(without_heapline_lines(o.traced.err), without_heapline_lines(o.plain.err));
  o.messages = heapline_lines(o.traced.err);
  return o;
}

TEST(Hostile, TraceDeletedWhileTheTargetRuns) {
  TempDir dir;
  const std::string trace = dir.file("s.trace");
  const Outcome o = run_with_fault(dir, trace, 500000, false, [&] {
    ASSERT_EQ(unlink(trace.c_str()), 0) << strerror(errno);
  });
  ASSERT_EQ(o.messages.size(), 1u) << o.traced.err;
  EXPECT_NE(o.messages[0].find("was deleted"), std::string::npos) << o.messages[0];
  EXPECT_TRUE(dir.traces().empty());
}

TEST(Hostile, TraceTruncatedWhileTheTargetWaits) {
  TempDir dir;
  const std::string trace = dir.file("s.trace");
  const Outcome o = run_with_fault(dir, trace, 500000, false, [&] {
    ASSERT_EQ(truncate(trace.c_str(), 0), 0) << strerror(errno);
  });
  ASSERT_EQ(o.messages.size(), 1u) << o.traced.err;
  EXPECT_NE(o.messages[0].find("was truncated"), std::string::npos) << o.messages[0];
}

// The target's threads store into the truncated file's mapping before the drain thread can
// notice: without the recorder's SIGBUS guard this kills the target.
TEST(Hostile, TraceTruncatedWhileTheTargetAllocatesFlatOut) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    SCOPED_TRACE(attempt);
    TempDir dir;
    const std::string trace = dir.file("s.trace");
    const Outcome o = run_with_fault(dir, trace, 2000000, true, [&] {
      ASSERT_EQ(truncate(trace.c_str(), 0), 0) << strerror(errno);
    });
    ASSERT_EQ(o.messages.size(), 1u) << o.traced.err;
    EXPECT_NE(o.messages[0].find("was truncated"), std::string::npos) << o.messages[0];
  }
}

// A small tmpfs of its own (root only): skipped where mounting is not allowed.
class SmallDisk {
 public:
  explicit SmallDisk(const std::string& dir) : dir_(dir) {
    mounted_ = mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=2m") == 0;
    error_ = mounted_ ? "" : strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

// `sample_bytes` 0: full tracing.
void expect_disk_full_handled(const TempDir& dir, uint32_t sample_bytes) {
  e2e::EnvVars env;
  if (sample_bytes) env.emplace_back("HEAPLINE_SAMPLE_BYTES", std::to_string(sample_bytes));
  const std::string disk_dir = dir.file("disk");
  ASSERT_EQ(mkdir(disk_dir.c_str(), 0755), 0);
  SmallDisk disk(disk_dir);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << disk.error();
  const std::string trace = disk_dir + "/s.trace";
  // Phase 2 writes far more than 2 MiB of trace.
  const Outcome o = run_with_fault(dir, trace, 3000000, false, [] {}, env);
  ASSERT_EQ(o.messages.size(), 1u) << o.traced.err;
  EXPECT_TRUE(o.messages[0].find("disk full") != std::string::npos ||
              o.messages[0].find("no space") != std::string::npos)
      << o.messages[0];

  // What was recorded before the disk filled is there, readable, exact.
  const TraceTally t = tally_trace(trace);
  EXPECT_EQ(t.process_pid, static_cast<uint32_t>(o.traced.pid));
  if (sample_bytes == 0) {
    EXPECT_EQ(t.allocs_of(9001), static_cast<uint64_t>(kPhase1));
  } else {
    // Each block is sampled with p = 1 - exp(-9001 / N): within 10 standard deviations.
    const double p = 1 - std::exp(-9001.0 / sample_bytes);
    const double sd = std::sqrt(kPhase1 * p * (1 - p));
    EXPECT_NEAR(static_cast<double>(t.allocs_of(9001)), kPhase1 * p, 10 * sd);
  }
  EXPECT_EQ(t.frees_of(9001), t.allocs_of(9001));
  EXPECT_EQ(t.allocs_at_live_address, 0u);
  EXPECT_GT(t.allocations, t.allocs_of(9001));  // and some of phase 2
  const analysis::Report report = analysis::analyze_trace(trace, {});
  EXPECT_FALSE(report.complete);  // it says recording stopped before the end
  const RunResult text = e2e::run_untraced(HEAPLINE_CLI, {"report", trace});
  EXPECT_TRUE(text.exited(0)) << text.describe();
}

TEST(Hostile, DiskFullMidRun) {
  TempDir dir;
  expect_disk_full_handled(dir, 0);
}

// Sampling mode gives a chunk its disk blocks a step at a time as its records grow
// (TraceFile::extend_backing): the disk may fill at any of those steps too. At 4 KiB, 9001-byte
// blocks are sampled with p = 0.89: the trace still outgrows the disk, and the blocks of phase
// 1 that were sampled are all there with their frees.
TEST(Hostile, DiskFullMidSampledRun) {
  TempDir dir;
  expect_disk_full_handled(dir, 4096);
}

}  // namespace
}  // namespace heapline::reliability
