// The `--json` form of `heapline report` and `heapline leaks`. Field names are a contract with
// other tools: fields may be added, never renamed (see README, "JSON report").
#pragma once

#include <nlohmann/json.hpp>

#include "model/report_model.h"

namespace heapline::analysis {

nlohmann::ordered_json report_to_json(const Report& report);
nlohmann::ordered_json frame_to_json(const ResolvedFrame& frame);
nlohmann::ordered_json location_to_json(const SourceLocation& where);

}  // namespace heapline::analysis
