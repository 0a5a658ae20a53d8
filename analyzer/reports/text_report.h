// The human-readable forms of `heapline report` and `heapline leaks`.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "model/report_model.h"

namespace heapline::analysis {

std::string human_bytes(uint64_t bytes);  // "1.50 MiB", "64 B"
void print_text_report(const Report& report, size_t top, FILE* out);
void print_text_leaks(const Report& report, FILE* out);

}  // namespace heapline::analysis
