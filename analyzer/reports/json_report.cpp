#include "json_report.h"

#include <string_view>
#include <unordered_map>
#include <utility>

namespace heapline::analysis {

using json = nlohmann::ordered_json;

using nlohmann::ordered_json;

json location_to_json(const SourceLocation& where) {
  return {{"function", where.function}, {"file", where.file}, {"line", where.line}};
}

json frame_to_json(const ResolvedFrame& f) {
  return {{"function", f.function()}, {"file", f.file()},       {"line", f.line()},
          {"module", f.module()},     {"inlined", f.inlined()}, {"address", f.address}};
}

namespace {

json process_to_json(const Report& r) {
  json process = {{"pid", r.process.pid},   {"ppid", r.process.ppid},
                  {"exe", r.process.exe},   {"argv", r.process.argv},
                  {"complete", r.complete}, {"exit_status", r.process.exit_status},
                  {"exit_kind", r.process.execed            ? "exec"
                                : r.process.has_exit_record ? exit_kind_name(r.process.exit_kind)
                                                            : "none"}};
  if (r.process.execed) process["exec_path"] = r.process.exec_path;
  return process;
}

json summary_to_json(const Summary& s) {
  json summary = {
      {"allocations", s.allocations},
      {"frees", s.frees},
      {"bytes_allocated", s.bytes_allocated},
      {"peak_bytes", s.peak_bytes},
      {"peak_time_s", static_cast<double>(s.peak_time_ns) / 1e9},
      {"leaked_bytes", s.leaked_bytes},
      {"leaked_blocks", s.leaked_blocks},
      {"temporary_allocations", s.temporary_allocations},
      {"duration_s", static_cast<double>(s.duration_ns) / 1e9},
      {"peak_rss_bytes", s.peak_rss_bytes},
      {"unmatched_frees", s.unmatched_frees},
      {"lost_allocations", s.lost_allocations},
      {"lost_frees", s.lost_frees},
  };
  if (s.sample_bytes) {
    summary["sampling"] = {{"sample_bytes", s.sample_bytes},
                           {"recorded_allocations", s.recorded_allocations},
                           {"bytes_allocated_stderr", s.bytes_allocated_stderr},
                           {"leaked_bytes_stderr", s.leaked_bytes_stderr}};
  }
  return summary;
}

json leak_to_json(const LeakGroup& g) {
  json stack = json::array();
  for (const ResolvedFrame& f : g.stack) stack.push_back(frame_to_json(f));
  return {{"bytes", g.bytes},
          {"blocks", g.blocks},
          {"kind", "unclassified"},
          {"site", location_to_json(g.site)},
          {"stack", std::move(stack)}};
}

json line_to_json(const LineFigures& l) {
  return {{"file", l.where.file},
          {"line", l.where.line},
          {"function", l.where.function},
          {"allocations", l.allocations},
          {"bytes_allocated", l.bytes_allocated},
          {"peak_bytes", l.peak_bytes},
          {"leaked_bytes", l.leaked_bytes},
          {"leaked_blocks", l.leaked_blocks},
          {"temporary_allocations", l.temporary}};
}

json trace_to_json(const TraceInfo& t) {
  return {{"path", t.path},
          {"truncated", t.truncated},
          {"file_bytes", t.file_size},
          {"disk_bytes", t.disk_bytes},
          {"compressed_frames", t.frames},
          {"ring_chunks", t.ring_chunks}};
}

// `value.dump(2)` as it appears `depth` levels deep in a pretty-printed document: every line
// after the first indented by two more spaces per level. (Strings never hold a raw newline:
// JSON escapes it.)
void write_nested(FILE* out, const json& value, int depth) {
  const std::string text = value.dump(2);
  const std::string pad(static_cast<size_t>(depth) * 2, ' ');
  size_t begin = 0;
  for (size_t nl; (nl = text.find('\n', begin)) != std::string::npos; begin = nl + 1) {
    fwrite(text.data() + begin, 1, nl + 1 - begin, out);
    fputs(pad.c_str(), out);
  }
  fwrite(text.data() + begin, 1, text.size() - begin, out);
}

// A string as nlohmann dumps it (escaped and quoted), appended to `out`.
void append_quoted(std::string& out, std::string_view text) { out += json(text).dump(); }

// Frames' names quoted once each: they are interned (model/frame_pool.h), so a name's address
// identifies it, and a big program's leaks repeat a few thousand names millions of times
// (quoting them was a quarter of cc1plus's report --json).
class QuotedNames {
 public:
  const std::string& of(std::string_view name) {
    auto [it, inserted] = quoted_.try_emplace({name.data(), name.size()});
    if (inserted) append_quoted(it->second, name);
    return it->second;
  }

 private:
  struct KeyHash {
    size_t operator()(const std::pair<const char*, size_t>& k) const {
      return std::hash<const void*>()(k.first) ^ k.second;
    }
  };
  std::unordered_map<std::pair<const char*, size_t>, std::string, KeyHash> quoted_;
};

// What write_nested(leak_to_json(g), 2) writes, byte for byte, without building the group's
// JSON objects: a big program's leaks hold millions of frames (cc1plus: 2.8 M frames of 46 000
// groups took 28.6 M allocations through frame_to_json's objects).
void write_leak(FILE* out, const LeakGroup& g, QuotedNames& names, std::string& text) {
  text.clear();
  text += "{\n      \"bytes\": " + std::to_string(g.bytes);
  text += ",\n      \"blocks\": " + std::to_string(g.blocks);
  text += ",\n      \"kind\": \"unclassified\",\n      \"site\": {\n        \"function\": ";
  append_quoted(text, g.site.function);
  text += ",\n        \"file\": ";
  append_quoted(text, g.site.file);
  text += ",\n        \"line\": " + std::to_string(g.site.line) + "\n      },\n      \"stack\": ";
  if (g.stack.empty()) {
    text += "[]";
  } else {
    text += "[";
    for (size_t i = 0; i < g.stack.size(); ++i) {
      const ResolvedFrame& f = g.stack[i];
      text += i == 0 ? "\n        {\n          \"function\": " : ",\n        {\n          \"function\": ";
      text += names.of(f.function());
      text += ",\n          \"file\": ";
      text += names.of(f.file());
      text += ",\n          \"line\": " + std::to_string(f.line()) + ",\n          \"module\": ";
      text += names.of(f.module());
      text += f.inlined() ? ",\n          \"inlined\": true" : ",\n          \"inlined\": false";
      text += ",\n          \"address\": " + std::to_string(f.address) + "\n        }";
    }
    text += "\n      ]";
  }
  text += "\n    }";
  fwrite(text.data(), 1, text.size(), out);
}

}  // namespace

json report_to_json(const Report& r) {
  json out;
  out["heapline_report"] = 1;
  out["process"] = process_to_json(r);
  out["summary"] = summary_to_json(r.summary);
  json leaks = json::array();
  for (const LeakGroup& g : r.leaks) leaks.push_back(leak_to_json(g));
  out["leaks"] = std::move(leaks);
  json lines = json::array();
  for (const LineFigures& l : r.lines) lines.push_back(line_to_json(l));
  out["lines"] = std::move(lines);
  out["trace"] = trace_to_json(r.trace);
  out["warnings"] = r.warnings;
  return out;
}

void print_report_json(const Report& r, FILE* out, const ReportJsonTail& tail) {
  JsonObjectWriter w(out);
  w.member("heapline_report", 1);
  w.member("process", process_to_json(r));
  w.member("summary", summary_to_json(r.summary));
  std::string leak_text;
  QuotedNames names;
  w.array_member_text("leaks", r.leaks.size(),
                      [&](size_t i) { write_leak(out, r.leaks[i], names, leak_text); });
  if (!tail.without_lines)
    w.array_member("lines", r.lines.size(), [&](size_t i) { return line_to_json(r.lines[i]); });
  w.member("trace", trace_to_json(r.trace));
  w.member("warnings", r.warnings);
  for (const auto& [key, value] : tail.extra) w.member(key, value);
  w.end();
}

JsonObjectWriter::JsonObjectWriter(FILE* out) : out_(out) {}

void JsonObjectWriter::key(const std::string& name) {
  fputs(first_ ? "{\n  " : ",\n  ", out_);
  first_ = false;
  fputs(json(name).dump().c_str(), out_);
  fputs(": ", out_);
}

void JsonObjectWriter::member(const std::string& name, const json& value) {
  key(name);
  write_nested(out_, value, 1);
}

void JsonObjectWriter::array_member(const std::string& name, size_t count,
                                    const std::function<json(size_t)>& element) {
  array_member_text(name, count, [&](size_t i) { write_nested(out_, element(i), 2); });
}

void JsonObjectWriter::array_member_text(const std::string& name, size_t count,
                                         const std::function<void(size_t)>& write_element) {
  key(name);
  if (count == 0) {
    fputs("[]", out_);
    return;
  }
  fputs("[\n", out_);
  for (size_t i = 0; i < count; ++i) {
    fputs(i == 0 ? "    " : ",\n    ", out_);
    write_element(i);
  }
  fputs("\n  ]", out_);
}

void JsonObjectWriter::end() { fputs(first_ ? "{}\n" : "\n}\n", out_); }

}  // namespace heapline::analysis
