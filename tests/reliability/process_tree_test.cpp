// Process trees (tests/programs/rel_tree.c): fork without exec, fork+exec, posix_spawn,
// vfork+exec, system() and a grandchild. Each process has its own trace, complete, with its
// parent's pid in the header; and `heapline report` over the directory (or several files)
// summarizes the tree, one line per process.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "reliability_support.h"

namespace heapline::reliability {
namespace {

using e2e::RunResult;
using e2e::TempDir;

class ProcessTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_ = expect_same_behaviour(dir_, REL_TREE, {});
    ASSERT_TRUE(run_.exited(0)) << run_.describe();
    for (const std::string& path : run_.traces) traces_.push_back(tally_trace(path));
  }

  // The one trace holding allocations of `size` (each process of the tree has its own size).
  const TraceTally* owner_of(uint64_t size) {
    const TraceTally* found = nullptr;
    for (const TraceTally& t : traces_) {
      if (!t.allocs_of(size)) continue;
      EXPECT_EQ(found, nullptr) << "two traces hold size " << size;
      found = &t;
    }
    EXPECT_NE(found, nullptr) << "no trace holds size " << size;
    return found;
  }
  std::vector<const TraceTally*> with_pid(uint32_t pid) {
    std::vector<const TraceTally*> out;
    for (const TraceTally& t : traces_)
      if (t.header.pid == pid) out.push_back(&t);
    return out;
  }

  TempDir dir_;
  RunResult run_;
  std::vector<TraceTally> traces_;
};

TEST_F(ProcessTreeTest, EveryProcessHasItsOwnCompleteTraceWithItsParentsPid) {
  // root, fork child, fork child before and after exec, spawned, vforked, sh + its command,
  // the forked middle process and its spawned grandchild.
  ASSERT_EQ(traces_.size(), 10u);
  const uint32_t root_pid = static_cast<uint32_t>(run_.pid);
  for (const TraceTally& t : traces_) {
    SCOPED_TRACE(t.path);
    EXPECT_FALSE(t.truncated);
    EXPECT_EQ(t.lost_allocations + t.lost_frees, 0u);
    EXPECT_EQ(t.allocs_at_live_address, 0u);
    EXPECT_EQ(t.process_pid, t.header.pid);  // the process record agrees with the header
    EXPECT_EQ(t.process_ppid, t.header.ppid);
  }

  const TraceTally* root = owner_of(1101);
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->header.pid, root_pid);
  EXPECT_EQ(root->allocs_of(1101), 2u);
  EXPECT_EQ(root->frees_of(1101), 2u);
  EXPECT_TRUE(root->ended_by_exit(0));

  const TraceTally* forked = owner_of(1201);
  ASSERT_NE(forked, nullptr);
  EXPECT_EQ(forked->header.ppid, root_pid);
  EXPECT_EQ(forked->allocs_of(1201), 3u);
  EXPECT_EQ(forked->frees_of(1201), 3u);
  EXPECT_EQ(forked->allocs_of(1101), 0u);  // the parent's events stay in the parent's trace
  EXPECT_TRUE(forked->ended_by_exit(0));

  // Leaves: rel_tree leaf S, 4 blocks of S, all freed, return from main.
  std::map<uint64_t, const TraceTally*> leaves;
  for (uint64_t size : {1301, 1401, 1501, 1601, 1701}) {
    SCOPED_TRACE(size);
    const TraceTally* leaf = owner_of(size);
    ASSERT_NE(leaf, nullptr);
    EXPECT_EQ(leaf->allocs_of(size), 4u);
    EXPECT_EQ(leaf->frees_of(size), 4u);
    EXPECT_TRUE(leaf->ended_by_exit(0));
    EXPECT_EQ(base_name(leaf->exe), "rel_tree");
    EXPECT_EQ(leaf->argv, (std::vector<std::string>{REL_TREE, "leaf", std::to_string(size)}));
    leaves[size] = leaf;
  }
  EXPECT_EQ(leaves[1301]->header.ppid, root_pid);  // fork + exec
  EXPECT_EQ(leaves[1401]->header.ppid, root_pid);  // posix_spawn
  EXPECT_EQ(leaves[1501]->header.ppid, root_pid);  // vfork + exec

  // fork + exec: the pid has two images, the forked copy (no allocation of its own; it ends by
  // exec'ing rel_tree, its trace says so) and the exec'd leaf, each in its own file.
  const auto images = with_pid(leaves[1301]->header.pid);
  ASSERT_EQ(images.size(), 2u);
  for (const TraceTally* image : images) {
    EXPECT_EQ(image->header.ppid, root_pid);
    if (image != leaves[1301]) {
      EXPECT_TRUE(image->ended_by_exec(REL_TREE)) << image->path;
    }
  }
  EXPECT_TRUE(leaves[1301]->execs.empty());
  // vfork + exec: the child ran on the root's memory until its exec; nothing of it, neither its
  // exec nor anything else, went into the root's trace.
  EXPECT_TRUE(root->execs.empty());

  // system(): the shell is the root's child, the command the shell's.
  const auto shells = with_pid(leaves[1601]->header.ppid);
  ASSERT_EQ(shells.size(), 1u);
  EXPECT_EQ(shells[0]->header.ppid, root_pid);
  EXPECT_NE(shells[0]->exe.find("sh"), std::string::npos) << shells[0]->exe;

  // Grandchild: spawned by the forked middle process.
  const TraceTally* middle = owner_of(1211);
  ASSERT_NE(middle, nullptr);
  EXPECT_EQ(middle->header.ppid, root_pid);
  EXPECT_EQ(leaves[1701]->header.ppid, middle->header.pid);
  EXPECT_TRUE(middle->ended_by_exit(0));
}

// `heapline report DIR`: one line per process, parents before children, plus totals.
TEST_F(ProcessTreeTest, ReportOnTheDirectorySummarizesTheTree) {
  const RunResult r = e2e::run_untraced(HEAPLINE_CLI, {"report", dir_.path()});
  ASSERT_TRUE(r.exited(0)) << r.describe();
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 14u) << r.out;
  EXPECT_EQ(lines[0], "heapline report: 10 processes");
  std::vector<std::string> rows;
  for (const std::string& line : lines)
    if (line.find(".trace)") != std::string::npos) rows.push_back(line);
  ASSERT_EQ(rows.size(), 10u) << r.out;
  // The root comes first, unindented; every other process after its parent.
  const std::string root_pid = std::to_string(run_.pid);
  EXPECT_EQ(rows[0].substr(0, 8), std::string(8 - root_pid.size(), ' ') + root_pid) << rows[0];
  EXPECT_NE(rows[0].find("  yes        rel_tree  ("), std::string::npos) << rows[0];
  // The forked copy that exec'd the 1301 leaf: complete, ended by exec.
  const std::string execed = std::to_string(owner_of(1301)->header.pid) + ".trace)";
  const auto execed_row = std::find_if(rows.begin(), rows.end(), [&](const std::string& row) {
    return row.find(execed) != std::string::npos;
  });
  ASSERT_NE(execed_row, rows.end()) << r.out;
  EXPECT_NE(execed_row->find("  exec'd       rel_tree  ("), std::string::npos) << *execed_row;
  std::vector<std::string> seen_pids;
  for (const std::string& row : rows) {
    std::istringstream in(row);
    std::string pid, ppid;
    in >> pid >> ppid;
    if (row != rows[0]) {
      EXPECT_NE(std::find(seen_pids.begin(), seen_pids.end(), ppid), seen_pids.end()) << row;
    }
    seen_pids.push_back(pid);
  }
  uint64_t allocations = 0;
  for (const TraceTally& t : traces_) allocations += t.allocations;
  EXPECT_NE(r.out.find("total: 10 processes, " + std::to_string(allocations) + " allocations"),
            std::string::npos)
      << r.out;
}

TEST_F(ProcessTreeTest, JsonReportHasEveryProcessAndTotals) {
  const RunResult r = e2e::run_untraced(HEAPLINE_CLI, {"report", "--json", dir_.path()});
  ASSERT_TRUE(r.exited(0)) << r.describe();
  const auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["processes"].size(), 10u);
  EXPECT_EQ(doc["processes"][0]["process"]["pid"], run_.pid);
  EXPECT_EQ(doc["processes"][0]["depth"], 0);
  uint64_t allocations = 0, sum = 0;
  for (const TraceTally& t : traces_) allocations += t.allocations;
  for (const auto& p : doc["processes"]) {
    EXPECT_EQ(p["heapline_report"], 1);
    sum += p["summary"]["allocations"].get<uint64_t>();
  }
  EXPECT_EQ(sum, allocations);
  EXPECT_EQ(doc["totals"]["processes"], 10);
  EXPECT_EQ(doc["totals"]["allocations"], allocations);
  EXPECT_EQ(doc["totals"]["lost_allocations"], 0);
  // Only the sh of system() ends by _exit; the image before fork + exec ends by exec, complete.
  int execed = 0, incomplete = 0;
  for (const auto& p : doc["processes"]) {
    incomplete += !p["process"]["complete"].get<bool>();
    if (p["process"]["exit_kind"] != "exec") continue;
    ++execed;
    EXPECT_TRUE(p["process"]["complete"].get<bool>());
    EXPECT_EQ(p["process"]["exec_path"], REL_TREE);
  }
  EXPECT_EQ(execed, 1);
  EXPECT_EQ(incomplete, 1);
  EXPECT_EQ(doc["totals"]["incomplete"], 1);
}

// The single-process report of the image that exec'd names the program it became.
TEST_F(ProcessTreeTest, ReportOfAnImageThatExecdSaysIntoWhat) {
  const auto images = with_pid(owner_of(1301)->header.pid);
  ASSERT_EQ(images.size(), 2u);
  const TraceTally* before = images[0]->execs.empty() ? images[1] : images[0];
  const RunResult r = e2e::run_untraced(HEAPLINE_CLI, {"report", before->path});
  ASSERT_TRUE(r.exited(0)) << r.describe();
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[2], std::string("ended: exec'd into ") + REL_TREE);
}

TEST_F(ProcessTreeTest, ReportOnSeveralFilesAndOnOneFile) {
  const TraceTally* root = owner_of(1101);
  const TraceTally* forked = owner_of(1201);
  ASSERT_TRUE(root && forked);
  const RunResult two = e2e::run_untraced(HEAPLINE_CLI, {"report", forked->path, root->path});
  ASSERT_TRUE(two.exited(0)) << two.describe();
  EXPECT_EQ(lines_of(two.out)[0], "heapline report: 2 processes");
  // Parent first whatever the order of the arguments, the child indented under it.
  EXPECT_LT(two.out.find(base_name(root->path)), two.out.find(base_name(forked->path)));
  EXPECT_NE(two.out.find("yes          rel_tree  (" + base_name(forked->path)), std::string::npos)
      << two.out;

  // One trace: the single-process report, exactly as before.
  const RunResult one = e2e::run_untraced(HEAPLINE_CLI, {"report", root->path});
  ASSERT_TRUE(one.exited(0)) << one.describe();
  EXPECT_EQ(lines_of(one.out)[0], "heapline report: " + root->path);
  const RunResult one_json = e2e::run_untraced(HEAPLINE_CLI, {"report", "--json", root->path});
  EXPECT_FALSE(nlohmann::json::parse(one_json.out).contains("processes"));
}

TEST_F(ProcessTreeTest, AnUnreadableTraceIsNamedAndTheOthersStillReported) {
  const std::string junk = dir_.write_file("junk.trace", "not a trace at all, but long enough "
                                                         "to have a header's worth of bytes in it "
                                                         "so that the magic is what fails......");
  const RunResult r = e2e::run_untraced(HEAPLINE_CLI, {"report", dir_.path()});
  EXPECT_TRUE(r.exited(2)) << r.describe();
  EXPECT_NE(r.err.find(junk), std::string::npos) << r.err;
  EXPECT_EQ(lines_of(r.out)[0], "heapline report: 10 processes");

  TempDir empty;
  const RunResult none = e2e::run_untraced(HEAPLINE_CLI, {"report", empty.path()});
  EXPECT_TRUE(none.exited(2)) << none.describe();
  EXPECT_NE(none.err.find("no trace files"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace heapline::reliability
