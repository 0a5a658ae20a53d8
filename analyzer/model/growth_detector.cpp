#include "growth_detector.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace heapline::analysis {
namespace {

// Var(S) of Mann-Kendall's statistic with ties: [n(n-1)(2n+5) - sum t(t-1)(2t+5)] / 18 over the
// groups of t equal values.
double mann_kendall_variance(const std::vector<uint64_t>& values, size_t begin, size_t end) {
  const double n = static_cast<double>(end - begin);
  double var = n * (n - 1) * (2 * n + 5);
  std::map<uint64_t, size_t> ties;
  for (size_t i = begin; i < end; ++i) ++ties[values[i]];
  for (const auto& [value, count] : ties) {
    const double t = static_cast<double>(count);
    var -= t * (t - 1) * (2 * t + 5);
  }
  return var / 18;
}

}  // namespace

Trend measure_trend(const std::vector<uint64_t>& values, size_t begin, size_t end) {
  Trend trend;
  if (end <= begin + 2) return trend;
  int64_t s = 0;
  std::vector<double> slopes;
  slopes.reserve((end - begin) * (end - begin - 1) / 2);
  for (size_t i = begin; i < end; ++i) {
    for (size_t j = i + 1; j < end; ++j) {
      const double diff = static_cast<double>(values[j]) - static_cast<double>(values[i]);
      s += (diff > 0) - (diff < 0);
      slopes.push_back(diff / static_cast<double>(j - i));
    }
  }
  const auto middle = slopes.begin() + static_cast<std::ptrdiff_t>(slopes.size() / 2);
  std::nth_element(slopes.begin(), middle, slopes.end());
  trend.slope = *middle;
  if (slopes.size() % 2 == 0) {
    const double below = *std::max_element(slopes.begin(), middle);
    trend.slope = (trend.slope + below) / 2;
  }
  trend.tau = static_cast<double>(s) / static_cast<double>(slopes.size());
  const double var = mann_kendall_variance(values, begin, end);
  if (var <= 0 || s <= 0) return trend;  // all equal, or no upward tendency at all
  const double z = (static_cast<double>(s) - 1) / std::sqrt(var);  // continuity correction
  trend.confidence = 1 - 0.5 * std::erfc(z / std::sqrt(2.0));      // P(Z <= z), i.e. 1 - p
  return trend;
}

std::vector<GrowingSite> find_growing_sites(const SiteIndex& sites, const SiteSeries& series,
                                            const GrowthOptions& options) {
  std::vector<GrowingSite> out;
  const double slice_s = static_cast<double>(series.slice_ns) / 1e9;
  for (uint32_t site = 0; site < series.max_live.size(); ++site) {
    const std::vector<uint64_t>& v = series.max_live[site];
    if (v.size() < 8) continue;
    if (std::all_of(v.begin(), v.end(), [&](uint64_t x) { return x == v.front(); })) continue;
    const Trend whole = measure_trend(v, 0, v.size());
    if (whole.slope <= 0 || whole.confidence < options.min_confidence) continue;
    const Trend late = measure_trend(v, v.size() / 2, v.size());
    if (late.slope <= 0 || late.confidence < options.min_confidence) continue;
    if (whole.slope * static_cast<double>(v.size()) < static_cast<double>(options.min_growth_bytes))
      continue;
    out.push_back({site, sites.sites[site], whole.slope / slice_s,
                   std::min(whole.confidence, late.confidence), whole.tau});
  }
  std::sort(out.begin(), out.end(), [](const GrowingSite& a, const GrowingSite& b) {
    return a.bytes_per_s > b.bytes_per_s;
  });
  return out;
}

}  // namespace heapline::analysis
