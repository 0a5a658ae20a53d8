#include "growth_report.h"

#include <cmath>

#include "reports/json_report.h"
#include "reports/text_report.h"

namespace heapline::analysis {

void print_text_growing(const std::vector<GrowingSite>& growing, FILE* out) {
  fprintf(out, "\ngrowing: %zu sites whose live memory kept growing while the program ran\n",
          growing.size());
  fprintf(out, "(a trend over the whole run and its second half, even if freed at exit)\n");
  if (growing.empty()) fprintf(out, "  none\n");
  for (const GrowingSite& g : growing) {
    const auto rate = static_cast<uint64_t>(std::llround(std::max(0.0, g.bytes_per_s)));
    std::string where = g.where.function.empty() ? "??" : g.where.function;
    if (!g.where.file.empty()) where += "  " + g.where.file + ":" + std::to_string(g.where.line);
    fprintf(out, "  %12s/s  confidence %.3f  steadiness %.2f  %s\n", human_bytes(rate).c_str(),
            g.confidence, g.steadiness, where.c_str());
  }
}

nlohmann::ordered_json growing_to_json(const std::vector<GrowingSite>& growing) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const GrowingSite& g : growing)
    out.push_back({{"site", location_to_json(g.where)},
                   {"bytes_per_s", g.bytes_per_s},
                   {"confidence", g.confidence},
                   {"steadiness", g.steadiness}});
  return out;
}

}  // namespace heapline::analysis
