// The growth suspects of `heapline leaks`: a "growing" text section and the JSON list
// "growing": [{"site": {"function", "file", "line"}, "bytes_per_s", "confidence"}, ...].
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "model/growth_detector.h"

namespace heapline::analysis {

void print_text_growing(const std::vector<GrowingSite>& growing, FILE* out);
nlohmann::ordered_json growing_to_json(const std::vector<GrowingSite>& growing);

}  // namespace heapline::analysis
