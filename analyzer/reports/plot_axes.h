// Axis arithmetic for the SVG plot: a linear map from data to pixels, "nice" tick steps
// (1, 2, 2.5, 5 x 10^k) and the unit that makes the numbers readable (bytes -> KiB/MiB/GiB,
// seconds -> ms/s/min).
#pragma once

#include <string>
#include <vector>

namespace heapline::analysis {

struct AxisUnit {
  double scale = 1;  // data value / scale = value in this unit
  std::string name;  // "MiB", "s", ...
};
AxisUnit bytes_unit(double max_bytes);
AxisUnit time_unit(double max_seconds);  // input in seconds

struct Axis {
  double data_min = 0, data_max = 1;  // in the unit's values
  double pixel_min = 0, pixel_max = 1;
  double to_pixel(double v) const {
    return pixel_min + (v - data_min) / (data_max - data_min) * (pixel_max - pixel_min);
  }
};

// Ticks from 0 to at least `max` (about `target` of them); the last tick is >= max, so the axis
// can end on it.
std::vector<double> nice_ticks(double max, int target = 6);

// "1.5", "250", "0.25": a tick label with as many decimals as the ticks' `step` needs.
std::string tick_label(double value, double step);

}  // namespace heapline::analysis
