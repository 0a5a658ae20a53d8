#include "line_report.h"

#include <algorithm>
#include <cinttypes>
#include <set>

#include "reports/source_lines.h"
#include "reports/text_report.h"

namespace heapline::analysis {
namespace {

using json = nlohmann::ordered_json;

constexpr int kContext = 2;  // lines of source around figures in a --file listing

std::string signed_bytes(int64_t bytes) {
  if (bytes == 0) return "0 B";
  const std::string magnitude = human_bytes(static_cast<uint64_t>(bytes < 0 ? -bytes : bytes));
  return (bytes < 0 ? "-" : "+") + magnitude;
}

size_t indentation(const std::string& s) {
  const size_t i = s.find_first_not_of(' ');
  return i == std::string::npos ? SIZE_MAX : i;
}

// The first source line of a function, found in the text: the nearest line above the first
// line with figures that names the function followed by '(' and is indented less than the
// function's body (a recursive call inside the body is indented more); failing that, the first
// line itself if it names the function (a one-line function). 0 when not found.
uint32_t function_start(const std::vector<std::string>& text, const std::string& function,
                        uint32_t first) {
  std::string name = function.substr(0, function.find('('));
  if (const size_t colons = name.rfind("::"); colons != std::string::npos)
    name = name.substr(colons + 2);
  if (name.empty() || first == 0 || first > text.size()) return 0;
  const size_t body_indent = indentation(text[first - 1]);
  for (uint32_t n = first; n > 0 && first - n < 400; --n) {
    const std::string& s = text[n - 1];
    const size_t at = s.find(name);
    if (at == std::string::npos) continue;
    const size_t paren = s.find_first_not_of(' ', at + name.size());
    if (paren == std::string::npos || s[paren] != '(') continue;
    if (indentation(s) < body_indent) return n;
  }
  const std::string& s = text[first - 1];
  const size_t at = s.find(name);
  return at != std::string::npos && s.find('(', at) != std::string::npos ? first : 0;
}

// The closing brace of a function starting at `start`: the first line at or after `last` that
// begins with '}' at the signature's indentation or less.
uint32_t function_end(const std::vector<std::string>& text, uint32_t start, uint32_t last) {
  const size_t indent = indentation(text[start - 1]);
  for (uint32_t n = last; n <= text.size() && n - last < 2000; ++n) {
    const std::string& s = text[n - 1];
    const size_t i = indentation(s);
    if (i != SIZE_MAX && i <= indent && s[i] == '}') return n;
  }
  return last;
}

void print_header(const LineAnalysis& a, const LineListing& listing, FILE* out) {
  std::string cmd;
  for (const std::string& arg : a.process.argv) cmd += (cmd.empty() ? "" : " ") + arg;
  fprintf(out, "heapline lines: %s\n", a.trace.path.c_str());
  fprintf(out, "process %u: %s\n", a.process.pid,
          cmd.empty() ? a.process.exe.c_str() : cmd.c_str());
  fprintf(out, "peak heap %s at %.3f s; increment = live bytes at %s minus live bytes at %s\n",
          human_bytes(a.summary.peak_bytes).c_str(),
          static_cast<double>(a.summary.peak_time_ns) / 1e9, a.to_label.c_str(),
          a.from_label.c_str());
  fprintf(
      out, "attribution: %s\n",
      listing.attribution == Attribution::kSelf
          ? "self (the line allocated the memory itself; --inclusive adds what its calls allocated)"
          : "inclusive (the line or a function it called allocated the memory; --self for "
            "allocation sites only)");
}

void print_columns(FILE* out, const char* last) {
  fprintf(out, "%7s %9s %12s %12s %12s %13s  %s\n", "Line", "Allocs", "Allocated", "Live@peak",
          "Live@end", "Increment", last);
  fprintf(out, "%s\n", std::string(100, '=').c_str());
}

void print_row(FILE* out, uint32_t line, const LineCost* cost, const std::string& text) {
  if (!cost || cost->empty()) {
    fprintf(out, "%7u %9s %12s %12s %12s %13s  %s\n", line, "", "", "", "", "", text.c_str());
    return;
  }
  fprintf(out, "%7u %9" PRIu64 " %12s %12s %12s %13s  %s\n", line, cost->allocations,
          human_bytes(cost->bytes_allocated).c_str(), human_bytes(cost->live_peak_bytes).c_str(),
          human_bytes(cost->live_end_bytes).c_str(), signed_bytes(cost->increment_bytes).c_str(),
          text.c_str());
}

// Lines [first, last] of `file`, with the figures of `rows` (sorted by line) beside them.
void print_source_range(FILE* out, SourceLines& sources, const std::string& file, uint32_t first,
                        uint32_t last, const std::vector<const LineEntry*>& rows,
                        Attribution attribution) {
  size_t next = 0;
  for (uint32_t n = first; n <= last; ++n) {
    // Several entries share a line when different functions (inlined, lambdas) sit on it.
    LineCost sum;
    bool any = false;
    for (; next < rows.size() && rows[next]->where.line <= n; ++next) {
      if (rows[next]->where.line != n) continue;
      const LineCost& c = cost_of(*rows[next], attribution);
      sum.allocations += c.allocations;
      sum.bytes_allocated += c.bytes_allocated;
      sum.live_peak_bytes += c.live_peak_bytes;
      sum.live_end_bytes += c.live_end_bytes;
      sum.increment_bytes += c.increment_bytes;
      any = true;
    }
    print_row(out, n, any ? &sum : nullptr, sources.line(file, n));
  }
}

// Figures only, for a file that cannot be read.
void print_rows_without_source(FILE* out, const std::string& file,
                               const std::vector<const LineEntry*>& rows, Attribution attribution) {
  fprintf(out, "  (source not found: %s; showing the lines that have figures)\n",
          file.empty() ? "no file name in the debug info" : file.c_str());
  for (const LineEntry* e : rows) print_row(out, e->where.line, &cost_of(*e, attribution), "");
}

void print_function(FILE* out, SourceLines& sources, const FunctionLines& f,
                    Attribution attribution) {
  fprintf(out, "\n%s  %s\n", f.function.c_str(), f.file.c_str());
  print_columns(out, "Line Contents");
  const std::vector<std::string>* text = sources.lines(f.file);
  if (!text) return print_rows_without_source(out, f.file, f.lines, attribution);
  uint32_t first = f.lines.front()->where.line, last = f.lines.back()->where.line;
  if (const uint32_t start = function_start(*text, f.function, first)) {
    last = function_end(*text, start, last);
    first = start;
  }
  last = std::min<uint32_t>(last, static_cast<uint32_t>(text->size()));
  print_source_range(out, sources, f.file, first, last, f.lines, attribution);
}

// Every line with figures in `file`, with a little context; "..." marks skipped source.
void print_file(FILE* out, SourceLines& sources, const std::string& file,
                const std::vector<const LineEntry*>& rows, Attribution attribution) {
  fprintf(out, "\n%s\n", file.c_str());
  print_columns(out, "Line Contents");
  const std::vector<std::string>* text = sources.lines(file);
  if (!text) return print_rows_without_source(out, file, rows, attribution);
  const auto size = static_cast<uint32_t>(text->size());
  uint32_t printed = 0;  // last line printed
  for (size_t i = 0; i < rows.size();) {
    const uint32_t first = rows[i]->where.line > kContext ? rows[i]->where.line - kContext : 1;
    uint32_t last = rows[i]->where.line + kContext;
    size_t j = i + 1;
    while (j < rows.size() && rows[j]->where.line <= last + 2 * kContext + 1)
      last = rows[j++]->where.line + kContext;
    last = std::min(last, size);
    const uint32_t from = std::max(first, printed + 1);
    if (from > printed + 1) fprintf(out, "%7s\n", "...");
    std::vector<const LineEntry*> part(rows.begin() + static_cast<std::ptrdiff_t>(i),
                                       rows.begin() + static_cast<std::ptrdiff_t>(j));
    if (from <= last) print_source_range(out, sources, file, from, last, part, attribution);
    printed = std::max(printed, last);
    i = j;
  }
  if (printed < size) fprintf(out, "%7s\n", "...");
}

void print_top(FILE* out, SourceLines& sources, const std::vector<const LineEntry*>& rows,
               const LineListing& listing) {
  const Attribution attribution = listing.attribution;
  fprintf(out, "\n%zu heaviest lines (by %s, then bytes allocated):\n", rows.size(),
          listing.rank_by_increment ? "increment over the window" : "live bytes at the peak");
  fprintf(out, "%9s %12s %12s %12s %13s  %s\n", "Allocs", "Allocated", "Live@peak", "Live@end",
          "Increment", "Location");
  fprintf(out, "%s\n", std::string(100, '=').c_str());
  for (const LineEntry* e : rows) {
    const LineCost& c = cost_of(*e, attribution);
    std::string where =
        e->where.file.empty() ? "" : e->where.file + ":" + std::to_string(e->where.line);
    fprintf(out, "%9" PRIu64 " %12s %12s %12s %13s  %s  %s\n", c.allocations,
            human_bytes(c.bytes_allocated).c_str(), human_bytes(c.live_peak_bytes).c_str(),
            human_bytes(c.live_end_bytes).c_str(), signed_bytes(c.increment_bytes).c_str(),
            where.c_str(), e->where.function.c_str());
    std::string text = sources.line(e->where.file, e->where.line);
    text.erase(0, std::min(text.size(), text.find_first_not_of(' ')));
    if (!text.empty()) fprintf(out, "%62s%s\n", "", text.substr(0, 100).c_str());
  }
}

void print_warnings(const LineAnalysis& a, FILE* out) {
  if (a.warnings.empty()) return;
  fprintf(out, "\nnotes:\n");
  for (const std::string& w : a.warnings) fprintf(out, "  - %s\n", w.c_str());
}

std::vector<const LineEntry*> selected(const LineAnalysis& a, const LineListing& listing) {
  switch (listing.kind) {
    case LineListing::Kind::kFunction: {
      std::vector<const LineEntry*> out;
      for (const FunctionLines& f : select_function(a.lines, listing.name))
        out.insert(out.end(), f.lines.begin(), f.lines.end());
      return out;
    }
    case LineListing::Kind::kFile:
      return select_file(a.lines, listing.name);
    case LineListing::Kind::kTop:
      break;
  }
  return select_top(a.lines, listing.top, listing.attribution, listing.rank_by_increment);
}

json cost_to_json(const LineCost& c) {
  return {{"allocations", c.allocations},
          {"bytes_allocated", c.bytes_allocated},
          {"live_end_bytes", c.live_end_bytes},
          {"live_peak_bytes", c.live_peak_bytes},
          {"increment_bytes", c.increment_bytes}};
}

}  // namespace

bool print_line_listing(const LineAnalysis& a, const LineListing& listing, FILE* out) {
  print_header(a, listing, out);
  SourceLines sources;
  bool found = true;
  if (listing.kind == LineListing::Kind::kFunction) {
    const std::vector<FunctionLines> functions = select_function(a.lines, listing.name);
    found = !functions.empty();
    for (const FunctionLines& f : functions) print_function(out, sources, f, listing.attribution);
    if (!found)
      fprintf(out, "\nno allocation involved a function named '%s'\n", listing.name.c_str());
  } else if (listing.kind == LineListing::Kind::kFile) {
    const std::vector<const LineEntry*> rows = select_file(a.lines, listing.name);
    found = !rows.empty();
    // select_file may match several files ("util.c" in two directories): one listing each.
    for (size_t i = 0; i < rows.size();) {
      size_t j = i;
      while (j < rows.size() && rows[j]->where.file == rows[i]->where.file) ++j;
      print_file(out, sources, rows[i]->where.file,
                 {rows.begin() + static_cast<std::ptrdiff_t>(i),
                  rows.begin() + static_cast<std::ptrdiff_t>(j)},
                 listing.attribution);
      i = j;
    }
    if (!found)
      fprintf(out, "\nno allocation involved a line of a file matching '%s'\n",
              listing.name.c_str());
  } else {
    print_top(out, sources, selected(a, listing), listing);
  }
  print_warnings(a, out);
  return found;
}

json lines_to_json(const LineAnalysis& a, const LineListing& listing) {
  json out = json::array();
  for (const LineEntry* e : selected(a, listing)) {
    out.push_back({{"file", e->where.file},
                   {"line", e->where.line},
                   {"function", e->where.function},
                   {"self", cost_to_json(e->self)},
                   {"inclusive", cost_to_json(e->inclusive)}});
  }
  return out;
}

}  // namespace heapline::analysis
