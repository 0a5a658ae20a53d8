// The `--json` form of `heapline report` and `heapline leaks`. Field names are a contract with
// other tools: fields may be added, never renamed (see README, "JSON report").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/report_model.h"

namespace heapline::analysis {

nlohmann::ordered_json report_to_json(const Report& report);

// What `heapline leaks --json` changes at the end of the report's object.
struct ReportJsonTail {
  bool without_lines = false;
  std::vector<std::pair<std::string, nlohmann::ordered_json>> extra;  // members added last
};
// Prints report_to_json(report).dump(2) and a newline (with `tail`'s changes), byte for byte,
// without building the whole document: one leak group or line at a time. The document of a big
// program's leaks (cc1plus: 163 MB of JSON, 46 000 leaked blocks) took 1.3 GB as a DOM.
void print_report_json(const Report& report, FILE* out, const ReportJsonTail& tail = {});

// Writes a JSON object, member by member, exactly as nlohmann's dump(2) lays it out.
class JsonObjectWriter {
 public:
  explicit JsonObjectWriter(FILE* out);
  void member(const std::string& name, const nlohmann::ordered_json& value);
  // An array member whose elements are made one at a time.
  void array_member(const std::string& name, size_t count,
                    const std::function<nlohmann::ordered_json(size_t)>& element);
  // The same, for elements that write their own text at this depth (two levels in).
  void array_member_text(const std::string& name, size_t count,
                         const std::function<void(size_t)>& write_element);
  void end();  // the closing brace and a newline

 private:
  void key(const std::string& name);
  FILE* out_;
  bool first_ = true;
};
nlohmann::ordered_json frame_to_json(const ResolvedFrame& frame);
nlohmann::ordered_json location_to_json(const SourceLocation& where);

}  // namespace heapline::analysis
