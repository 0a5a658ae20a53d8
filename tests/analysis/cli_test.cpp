// The `heapline` binary as CI and other tools use it: `leaks --fail-on-leak` exit codes, the JSON
// contract of `report --json` (every documented field, values equal to the library's Report), and
// bad input: a trace cut short is reported (exit 0, complete=false, a note); a file that is not a
// trace is refused with exit 2 and a message naming the file and a byte offset; nothing crashes.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "analysis_harness.h"
#include "model/allocation_model.h"
#include "reader/trace_error.h"
#include "reader/trace_reader.h"

namespace heapline::analysis_test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(Cli, FailOnLeakExitCodes) {
  Traced run;
  trace_program(run, {ANALYSIS_LEAKS});
  const uint64_t leaked = run.report.summary.leaked_bytes;
  ASSERT_EQ(leaked, 6400u + 3000 + 2400) << describe(run.report);
  const std::string& t = run.trace;
  auto status = [&](const std::vector<std::string>& args) {
    const Outcome o = run_cli(args);
    EXPECT_EQ(o.signal, 0) << o.describe();
    return o.exit_code;
  };
  EXPECT_EQ(status({"leaks", "--fail-on-leak=" + std::to_string(leaked - 1), t}), 1);
  EXPECT_EQ(status({"leaks", "--fail-on-leak=" + std::to_string(leaked), t}), 0);
  EXPECT_EQ(status({"leaks", "--fail-on-leak=" + std::to_string(leaked + 1), t}), 0);
  EXPECT_EQ(status({"leaks", "--fail-on-leak", std::to_string(leaked - 1), t}), 1);
  EXPECT_EQ(status({"leaks", "--fail-on-leak=0", t}), 1);
  EXPECT_EQ(status({"leaks", t, "--fail-on-leak"}), 1);  // no value: any leak fails
  EXPECT_EQ(status({"leaks", t}), 0);
  EXPECT_EQ(status({"leaks", "--fail-on-leak=lots", t}), 2);
  const Outcome over = run_cli({"leaks", "--fail-on-leak=100", t});
  EXPECT_NE(over.err.find(std::to_string(leaked)), std::string::npos) << over.err;
  EXPECT_NE(over.out.find("analysis_leaks.c"), std::string::npos);

  // A program that leaks nothing passes even the strictest limit.
  Traced clean;
  trace_program(clean, {ANALYSIS_EMPTY_C});
  ASSERT_EQ(clean.report.summary.leaked_bytes, 0u) << describe(clean.report);
  EXPECT_EQ(status({"leaks", "--fail-on-leak=0", clean.trace}), 0);
}

void expect_fields(const json& object, const std::vector<const char*>& names,
                   const std::string& where) {
  ASSERT_TRUE(object.is_object()) << where;
  for (const char* name : names) EXPECT_TRUE(object.contains(name)) << where << "." << name;
}

TEST(Cli, ReportJsonHasEveryContractField) {
  Traced run;
  trace_program(run, {ANALYSIS_LEAKS_CXX});
  const Outcome o = run_cli({"report", "--json", run.trace});
  ASSERT_TRUE(o.exited(0)) << o.describe();
  json doc;
  ASSERT_NO_THROW(doc = json::parse(o.out)) << o.out.substr(0, 500);
  EXPECT_EQ(doc.at("heapline_report"), 1);
  expect_fields(doc.at("process"), {"pid", "exe", "argv", "complete"}, "process");
  expect_fields(doc.at("summary"),
                {"allocations", "frees", "bytes_allocated", "peak_bytes", "leaked_bytes",
                 "leaked_blocks", "temporary_allocations", "duration_s", "peak_rss_bytes"},
                "summary");
  ASSERT_TRUE(doc.at("leaks").is_array());
  ASSERT_FALSE(doc.at("leaks").empty());
  for (const json& leak : doc.at("leaks")) {
    expect_fields(leak, {"bytes", "blocks", "kind", "site", "stack"}, "leaks[]");
    expect_fields(leak.at("site"), {"function", "file", "line"}, "leaks[].site");
    ASSERT_TRUE(leak.at("stack").is_array());
    ASSERT_FALSE(leak.at("stack").empty());
    for (const json& frame : leak.at("stack"))
      expect_fields(frame, {"function", "file", "line", "module", "inlined"}, "leaks[].stack[]");
  }
  ASSERT_TRUE(doc.at("lines").is_array());
  ASSERT_FALSE(doc.at("lines").empty());
  for (const json& line : doc.at("lines"))
    expect_fields(line,
                  {"file", "line", "function", "allocations", "bytes_allocated", "peak_bytes",
                   "leaked_bytes"},
                  "lines[]");

  // The values are the library's.
  const Report& r = run.report;
  const json& p = doc.at("process");
  EXPECT_EQ(p.at("pid").get<uint32_t>(), r.process.pid);
  EXPECT_EQ(p.at("exe").get<std::string>(), r.process.exe);
  EXPECT_EQ(p.at("exe").get<std::string>(), fs::canonical(ANALYSIS_LEAKS_CXX).string());
  EXPECT_EQ(p.at("argv").get<std::vector<std::string>>(), r.process.argv);
  EXPECT_EQ(p.at("complete").get<bool>(), true);
  const json& s = doc.at("summary");
  EXPECT_EQ(s.at("allocations").get<uint64_t>(), r.summary.allocations);
  EXPECT_EQ(s.at("frees").get<uint64_t>(), r.summary.frees);
  EXPECT_EQ(s.at("bytes_allocated").get<uint64_t>(), r.summary.bytes_allocated);
  EXPECT_EQ(s.at("peak_bytes").get<uint64_t>(), r.summary.peak_bytes);
  EXPECT_EQ(s.at("leaked_bytes").get<uint64_t>(), r.summary.leaked_bytes);
  EXPECT_EQ(s.at("leaked_blocks").get<uint64_t>(), r.summary.leaked_blocks);
  EXPECT_EQ(s.at("temporary_allocations").get<uint64_t>(), r.summary.temporary_allocations);
  EXPECT_GT(s.at("duration_s").get<double>(), 0.0);
  // Sampled every 50 ms: the 10 MiB phase of this short program may fall between two samples.
  EXPECT_GT(s.at("peak_rss_bytes").get<uint64_t>(), 0u);
  EXPECT_EQ(doc.at("leaks").size(), r.leaks.size());
  EXPECT_EQ(doc.at("lines").size(), r.lines.size());
  uint64_t leak_sum = 0;
  for (const json& leak : doc.at("leaks")) {
    EXPECT_EQ(leak.at("kind"), "unclassified");
    leak_sum += leak.at("bytes").get<uint64_t>();
  }
  EXPECT_EQ(leak_sum, r.summary.leaked_bytes);
  const uint32_t line = marker_line("analysis_leaks_cxx.cpp", "@leak64");
  bool seen = false;
  for (const json& l : doc.at("lines")) {
    if (l.at("line") != line || !same_file(l.at("file").get<std::string>(), "analysis_leaks_cxx.cpp")) continue;
    seen = true;
    EXPECT_EQ(l.at("allocations"), 100);
    EXPECT_EQ(l.at("bytes_allocated"), 6400);
    EXPECT_EQ(l.at("peak_bytes"), 6400);
    EXPECT_EQ(l.at("leaked_bytes"), 6400);
    EXPECT_EQ(l.at("function"), "main");
  }
  EXPECT_TRUE(seen);

  // `leaks --json` is the same document without "lines".
  const Outcome leaks = run_cli({"leaks", "--json", run.trace});
  ASSERT_TRUE(leaks.exited(0)) << leaks.describe();
  const json leaks_doc = json::parse(leaks.out);
  EXPECT_EQ(leaks_doc.at("leaks"), doc.at("leaks"));
  EXPECT_FALSE(leaks_doc.contains("lines"));
}

// A copy of `trace` cut to `size` bytes (sparse, like the original).
std::string cut_copy(const std::string& trace, uint64_t size, const ScratchDir& dir,
                     const std::string& name) {
  const std::string out = dir.file(name);
  fs::copy_file(trace, out, fs::copy_options::overwrite_existing);
  fs::resize_file(out, size);
  return out;
}

TEST(BadInput, TruncatedTraceIsReportedIncomplete) {
  Traced run;
  trace_program(run, {ANALYSIS_THREADS});
  ASSERT_TRUE(run.report.complete) << describe(run.report);
  const uint64_t size = fs::file_size(run.trace);
  const uint64_t data_offset = run.report.trace.header.data_offset;
  ASSERT_GT(run.report.trace.frames, 0u) << "the test needs a trace with compressed frames";
  ASSERT_GT(size, data_offset);
  ScratchDir dir;
  // In the middle of the file (inside the ring), and in the middle of the compressed frames.
  for (const uint64_t cut : {size / 2, data_offset + (size - data_offset) / 2}) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(size));
    const std::string path = cut_copy(run.trace, cut, dir, "cut.trace");
    const Outcome o = run_cli({"report", "--json", path});
    ASSERT_TRUE(o.exited(0)) << o.describe();
    const json doc = json::parse(o.out);
    EXPECT_FALSE(doc.at("process").at("complete").get<bool>());
    EXPECT_TRUE(doc.at("trace").at("truncated").get<bool>());
    ASSERT_TRUE(doc.at("warnings").is_array());
    bool noted = false;
    for (const json& w : doc.at("warnings"))
      noted |= w.get<std::string>().find("cut short") != std::string::npos;
    EXPECT_TRUE(noted) << doc.at("warnings").dump();
    const Outcome text = run_cli({"report", path});
    ASSERT_TRUE(text.exited(0)) << text.describe();
    EXPECT_NE(text.out.find("cut short"), std::string::npos) << text.out;
  }
}

// Every cut, every 1/64th of the file and every 97 bytes of the compressed frames: read to a
// model or refused with a TraceError naming the file, never a crash (this runs in-process, so a
// crash fails the test binary). Every 8th cut also goes through the whole analysis, symbolizer
// included (the slow part, so not for every cut).
TEST(BadInput, EveryCutIsReadOrRefusedCleanly) {
  Traced run;
  trace_program(run, {ANALYSIS_THREADS});
  const uint64_t size = fs::file_size(run.trace);
  ScratchDir dir;
  std::vector<uint64_t> cuts;
  for (uint64_t i = 0; i <= 64; ++i) cuts.push_back(size * i / 64);
  for (uint64_t d = 1; d < 48; d += 5) cuts.push_back(size - d);
  for (uint64_t off = run.report.trace.header.data_offset; off < size; off += 97) cuts.push_back(off);
  size_t refused = 0, read = 0;
  for (size_t i = 0; i < cuts.size(); ++i) {
    const uint64_t cut = cuts[i];
    const std::string path = cut_copy(run.trace, cut, dir, "cut.trace");
    try {
      analysis::TraceReader reader(path);
      analysis::AllocationModel model;
      reader.read(model);
      model.finish();
      EXPECT_TRUE(reader.info().truncated || cut == size || cut < sizeof(format::FileHeader))
          << "cut at " << cut;
      if (i % 8 == 0) {
        const Report r = analysis::analyze_trace(path, {});
        EXPECT_FALSE(r.complete && cut < size) << "cut at " << cut;
      }
      ++read;
    } catch (const analysis::TraceError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
      ++refused;
    }
  }
  // Only cuts inside the 80-byte file header can make the file unreadable.
  EXPECT_LE(refused, 2u);
  EXPECT_GT(read, 0u);
}

void expect_refused(const std::string& path, const std::string& offset_text) {
  SCOPED_TRACE(path);
  for (const char* command : {"report", "leaks", "dump"}) {
    const Outcome o = run_cli({command, path});
    EXPECT_TRUE(o.exited(2)) << command << ": " << o.describe();
    EXPECT_NE(o.err.find(path), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("byte offset " + offset_text), std::string::npos) << o.err;
  }
  EXPECT_THROW(analysis::analyze_trace(path, {}), analysis::TraceError);
}

TEST(BadInput, ForeignEmptyAndMissingFilesAreRefused) {
  ScratchDir dir;
  expect_refused("/bin/ls", "0");
  const std::string empty = dir.file("empty.trace");
  std::ofstream(empty).close();
  expect_refused(empty, "0");
  expect_refused(dir.file("missing.trace"), "0");
  expect_refused(dir.path(), "0");  // a directory
  const std::string text = dir.file("text.trace");
  std::ofstream(text) << std::string(10000, 'x');
  expect_refused(text, "0");
}

// A full disk under the report: exit status 2 and a message, not 0 and an empty file.
TEST(BadInput, AReportThatCannotBeWrittenIsAnError) {
  Traced run;
  trace_program(run, {ANALYSIS_LEAKS_CXX});
  for (const std::string command : {"report --json", "report", "leaks", "dump"}) {
    const Outcome o = run_program(
        {"/bin/sh", "-c", std::string(HEAPLINE_CLI) + " " + command + " " + run.trace + " > /dev/full"},
        {});
    EXPECT_TRUE(o.exited(2)) << command << ": " << o.describe();
    EXPECT_NE(o.err.find("heapline: cannot write the output"), std::string::npos)
        << command << ": " << o.err;
  }
}

TEST(BadInput, CorruptHeaderAndFrameAreRefusedWithTheirOffsets) {
  Traced run;
  trace_program(run, {ANALYSIS_THREADS});
  ASSERT_GT(run.report.trace.frames, 0u);
  ScratchDir dir;
  auto patched = [&](uint64_t offset, uint8_t value) {
    const std::string out = dir.file("patched.trace");
    fs::copy_file(run.trace, out, fs::copy_options::overwrite_existing);
    std::fstream f(out, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(value));
    return out;
  };
  // The version field (offset 8) of a future format.
  expect_refused(patched(8, 99), "8");
  // The first compressed frame's magic.
  const uint64_t frame = run.report.trace.header.data_offset;
  expect_refused(patched(frame, 0), std::to_string(frame));
}

}  // namespace
}  // namespace heapline::analysis_test
