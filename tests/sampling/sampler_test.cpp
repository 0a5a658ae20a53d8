// The sampler's statistics against known truth. With mean interval N, a block of s bytes is
// recorded with probability p = 1 - exp(-s/N) and counted 1/p times, so for a site of n blocks of
// s bytes the estimate of its bytes is unbiased with variance n s^2 (1-p)/p. The tests check,
// over many seeds, that estimates land within a few standard deviations of the truth, that their
// mean converges on it, that the stated error covers the truth as often as it should, and that a
// fixed seed reproduces a run exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "model/report_model.h"
#include "traced_process.h"

namespace heapline::e2e {
namespace {

using analysis::Report;

constexpr uint64_t kInterval = 16384;

struct Site {
  const char* marker;
  double blocks;
  double size;
};
const Site kSites[] = {{"@small", 200000, 64}, {"@medium", 2000, 1000}, {"@large", 400, 50000}};

uint32_t line_of(const char* marker) {
  std::ifstream in(SAMPLING_SOURCE);
  std::string line;
  for (uint32_t n = 1; std::getline(in, line); ++n)
    if (line.find(marker) != std::string::npos) return n;
  ADD_FAILURE() << "marker " << marker << " not in " << SAMPLING_SOURCE;
  return 0;
}

double stddev_of(const Site& s) {
  const double p = -std::expm1(-s.size / static_cast<double>(kInterval));
  return std::sqrt(s.blocks * s.size * s.size * (1 - p) / p);
}

Report run_sampled(const TempDir& dir, uint64_t seed) {
  RunOptions options;
  options.env = {{"HEAPLINE_SAMPLE_BYTES", std::to_string(kInterval)},
                 {"HEAPLINE_SAMPLE_SEED", std::to_string(seed)}};
  options.output = dir.file("s" + std::to_string(seed) + ".%p.trace");
  const RunResult r = run_traced(dir, SAMPLING_WORKLOAD, {}, options);
  if (!r.exited(0) || r.traces.empty()) {
    ADD_FAILURE() << r.describe();
    return {};
  }
  std::string trace;
  for (const std::string& t : r.traces)
    if (t.find("/s" + std::to_string(seed) + ".") != std::string::npos) trace = t;
  return analysis::analyze_trace(trace, {});
}

// bytes_allocated of the site at `line` in the report, 0 if absent.
double site_bytes(const Report& r, uint32_t line) {
  double bytes = 0;
  for (const auto& l : r.lines)
    if (l.where.line == line && l.where.file == SAMPLING_SOURCE) bytes += static_cast<double>(l.bytes_allocated);
  return bytes;
}

TEST(Sampler, EstimatesAreUnbiasedAndWithinTheirErrorOverManySeeds) {
  TempDir dir;
  constexpr int kRuns = 24;
  std::map<std::string, std::vector<double>> estimates;
  int covered = 0;
  double truth_total = 0;
  {
    // The unsampled truth of the whole process (the C runtime allocates a little too).
    const RunResult full = run_traced(dir, SAMPLING_WORKLOAD, {}, {});
    ASSERT_TRUE(full.exited(0)) << full.describe();
    truth_total = static_cast<double>(analysis::analyze_trace(full.traces.at(0), {}).summary.bytes_allocated);
  }
  for (int run = 0; run < kRuns; ++run) {
    const Report r = run_sampled(dir, 1000 + run);
    ASSERT_EQ(r.summary.sample_bytes, kInterval);
    for (const Site& s : kSites) estimates[s.marker].push_back(site_bytes(r, line_of(s.marker)));
    const double error = 1.96 * r.summary.bytes_allocated_stderr;
    covered += std::fabs(static_cast<double>(r.summary.bytes_allocated) - truth_total) <= error;
  }
  for (const Site& s : kSites) {
    const double truth = s.blocks * s.size, sigma = stddev_of(s);
    double mean = 0;
    for (double e : estimates[s.marker]) {
      EXPECT_NEAR(e, truth, 4.5 * sigma + 1) << s.marker << ": one run far outside the error";
      mean += e / kRuns;
    }
    EXPECT_NEAR(mean, truth, 4.5 * sigma / std::sqrt(kRuns) + 1) << s.marker << ": biased";
  }
  // The stated 95% interval covers the truth in most runs (P(fewer than 18 of 24) < 0.1%).
  EXPECT_GE(covered, 18) << "the reported standard error understates the real error";
}

TEST(Sampler, LeakEstimateMatchesTheKeptBlocks) {
  TempDir dir;
  const Report r = run_sampled(dir, 7);
  const double truth = 2000.0 * 1000;  // every medium block is kept
  EXPECT_NEAR(static_cast<double>(r.summary.leaked_bytes), truth,
              4.5 * stddev_of(kSites[1]) + 4096);  // + the runtime's own few leaked bytes
  EXPECT_GT(r.summary.leaked_bytes_stderr, 0.0);
}

TEST(Sampler, AFixedSeedReproducesTheRun) {
  TempDir dir;
  const Report a = run_sampled(dir, 42);
  TempDir other;
  const Report b = run_sampled(other, 42);
  EXPECT_EQ(a.summary.recorded_allocations, b.summary.recorded_allocations);
  EXPECT_EQ(a.summary.bytes_allocated, b.summary.bytes_allocated);
  EXPECT_EQ(a.summary.leaked_bytes, b.summary.leaked_bytes);
  const Report c = run_sampled(other, 43);
  EXPECT_NE(a.summary.bytes_allocated, c.summary.bytes_allocated) << "the seed changes nothing";
}

TEST(Sampler, SamplingRecordsFarFewerEvents) {
  TempDir dir;
  const Report r = run_sampled(dir, 5);
  // Expected records: sum of n p over the sites, about 51 + 118 + 380 = 550; far below 202 400.
  EXPECT_LT(r.summary.recorded_allocations, 2000u);
  EXPECT_GT(r.summary.recorded_allocations, 300u);
}

}  // namespace
}  // namespace heapline::e2e
