#include "plot_axes.h"

#include <cmath>
#include <cstdio>

namespace heapline::analysis {

AxisUnit bytes_unit(double max_bytes) {
  static const char* const kNames[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double scale = 1;
  int i = 0;
  while (i < 4 && max_bytes / scale >= 1024) {
    scale *= 1024;
    ++i;
  }
  return {scale, kNames[i]};
}

AxisUnit time_unit(double max_seconds) {
  if (max_seconds < 1) return {1e-3, "ms"};
  if (max_seconds >= 600) return {60, "min"};
  return {1, "s"};
}

std::vector<double> nice_ticks(double max, int target) {
  if (!(max > 0)) max = 1;
  const double rough = max / target;
  const double power = std::pow(10.0, std::floor(std::log10(rough)));
  double step = power;
  for (const double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = m * power;
    if (step >= rough) break;
  }
  std::vector<double> ticks;
  for (int i = 0;; ++i) {
    const double v = i * step;
    ticks.push_back(v);
    if (v >= max * (1 - 1e-9)) break;
  }
  return ticks;
}

std::string tick_label(double value, double step) {
  int decimals = 0;
  for (double scaled = step; decimals < 6; ++decimals, scaled *= 10)
    if (std::fabs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, scaled)) break;
  char buf[32];
  snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

}  // namespace heapline::analysis
