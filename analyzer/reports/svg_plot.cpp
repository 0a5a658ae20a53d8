#include "svg_plot.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "reports/plot_axes.h"
#include "reports/text_report.h"

namespace heapline::analysis {
namespace {

// Layout, in pixels.
constexpr double kWidth = 1100, kPlotLeft = 100, kPlotRight = 1070, kPlotTop = 70,
                 kPlotBottom = 450;
constexpr double kLegendTop = 500, kLegendRow = 22;
// Colour-blind-safe qualitative palette (Okabe-Ito, then Tableau), one per stacked site.
const char* const kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9",
                                "#D55E00", "#F0E442", "#4E79A7", "#B07AA1", "#9C755F"};
const char* const kOtherColor = "#BBBBBB";

std::string xml_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string point(const Axis& x, const Axis& y, double t, double bytes) {
  return num(x.to_pixel(t)) + "," + num(y.to_pixel(bytes)) + " ";
}

struct Scales {
  Axis x, y;
  AxisUnit time, bytes;
  std::vector<double> x_ticks, y_ticks;
};

Scales make_scales(const MemoryTimeline& t) {
  Scales s;
  // At least a millisecond of time axis: a trace of a few records still gets readable ticks.
  const double duration_s = std::max(1e-3, static_cast<double>(t.duration_ns) / 1e9);
  const double max_bytes = std::max<double>(
      {1024.0, static_cast<double>(t.peak_bytes), static_cast<double>(t.peak_rss_bytes)});
  s.time = time_unit(duration_s);
  s.bytes = bytes_unit(max_bytes);
  s.x_ticks = nice_ticks(duration_s / s.time.scale);
  s.y_ticks = nice_ticks(max_bytes * 1.08 / s.bytes.scale);
  s.x = {0, s.x_ticks.back(), kPlotLeft, kPlotRight};
  s.y = {0, s.y_ticks.back(), kPlotBottom, kPlotTop};
  return s;
}

void draw_axes(std::ostringstream& svg, const Scales& s) {
  svg << "<g font-family=\"sans-serif\" font-size=\"13\" fill=\"#333\">\n";
  for (const double v : s.y_ticks) {
    const double py = s.y.to_pixel(v);
    svg << "<line x1=\"" << kPlotLeft << "\" y1=\"" << num(py) << "\" x2=\"" << kPlotRight
        << "\" y2=\"" << num(py) << "\" stroke=\"#e4e4e4\"/>\n";
    svg << "<text x=\"" << kPlotLeft - 8 << "\" y=\"" << num(py + 4) << "\" text-anchor=\"end\">"
        << tick_label(v, s.y_ticks[1]) << "</text>\n";
  }
  for (const double v : s.x_ticks) {
    const double px = s.x.to_pixel(v);
    svg << "<line x1=\"" << num(px) << "\" y1=\"" << kPlotBottom << "\" x2=\"" << num(px)
        << "\" y2=\"" << kPlotBottom + 5 << "\" stroke=\"#333\"/>\n";
    svg << "<text x=\"" << num(px) << "\" y=\"" << kPlotBottom + 20 << "\" text-anchor=\"middle\">"
        << tick_label(v, s.x_ticks[1]) << "</text>\n";
  }
  svg << "<rect x=\"" << kPlotLeft << "\" y=\"" << kPlotTop << "\" width=\""
      << kPlotRight - kPlotLeft << "\" height=\"" << kPlotBottom - kPlotTop
      << "\" fill=\"none\" stroke=\"#333\"/>\n";
  svg << "<text x=\"" << (kPlotLeft + kPlotRight) / 2 << "\" y=\"" << kPlotBottom + 42
      << "\" text-anchor=\"middle\" font-size=\"14\">time (" << s.time.name << ")</text>\n";
  svg << "<text transform=\"translate(28," << (kPlotTop + kPlotBottom) / 2
      << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">memory (" << s.bytes.name
      << ")</text>\n</g>\n";
}

// One polygon per layer: the top sites from the bottom up, then "other" up to the heap curve.
void draw_stack(std::ostringstream& svg, const MemoryTimeline& t, const Scales& s) {
  const size_t layers = t.top_sites.size();
  std::vector<double> below(t.buckets.size(), 0), above(t.buckets.size(), 0);
  for (size_t layer = 0; layer <= layers; ++layer) {
    for (size_t i = 0; i < t.buckets.size(); ++i) {
      const TimelineBucket& b = t.buckets[i];
      above[i] = layer < layers ? below[i] + static_cast<double>(b.top_site_bytes[layer])
                                : static_cast<double>(b.heap_max_bytes);
    }
    std::string points;
    for (size_t i = 0; i < t.buckets.size(); ++i)
      points +=
          point(s.x, s.y, static_cast<double>(t.buckets[i].heap_max_time_ns) / 1e9 / s.time.scale,
                above[i] / s.bytes.scale);
    for (size_t i = t.buckets.size(); i-- > 0;)
      points +=
          point(s.x, s.y, static_cast<double>(t.buckets[i].heap_max_time_ns) / 1e9 / s.time.scale,
                below[i] / s.bytes.scale);
    const char* color = layer < layers ? kPalette[layer % std::size(kPalette)] : kOtherColor;
    svg << "<polygon points=\"" << points << "\" fill=\"" << color
        << "\" fill-opacity=\"0.85\" stroke=\"none\"/>\n";
    below.swap(above);
  }
}

void draw_lines(std::ostringstream& svg, const MemoryTimeline& t, const Scales& s) {
  std::string heap, rss;
  for (const TimelineBucket& b : t.buckets) {
    heap += point(s.x, s.y, static_cast<double>(b.heap_max_time_ns) / 1e9 / s.time.scale,
                  static_cast<double>(b.heap_max_bytes) / s.bytes.scale);
    if (b.has_rss)
      rss += point(s.x, s.y, static_cast<double>(b.rss_max_time_ns) / 1e9 / s.time.scale,
                   static_cast<double>(b.rss_max_bytes) / s.bytes.scale);
  }
  // The last bucket shows its maximum; the curve ends on what was live at the very end, so a
  // program that frees everything before it exits visibly drops to it.
  heap += point(s.x, s.y, static_cast<double>(t.duration_ns) / 1e9 / s.time.scale,
                static_cast<double>(t.end_heap_bytes) / s.bytes.scale);
  svg << "<polyline points=\"" << heap
      << "\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.6\"/>\n";
  if (!rss.empty())
    svg << "<polyline points=\"" << rss
        << "\" fill=\"none\" stroke=\"#C0392B\" stroke-width=\"1.6\" stroke-dasharray=\"6,4\"/>\n";
}

void draw_peak(std::ostringstream& svg, const MemoryTimeline& t, const Scales& s) {
  const double px = s.x.to_pixel(static_cast<double>(t.peak_time_ns) / 1e9 / s.time.scale);
  const double py = s.y.to_pixel(static_cast<double>(t.peak_bytes) / s.bytes.scale);
  char when[32];
  snprintf(when, sizeof when, "%.3f s", static_cast<double>(t.peak_time_ns) / 1e9);
  const std::string label = "peak " + human_bytes(t.peak_bytes) + " at " + when;
  // The label goes on the side of the point with more room, above it.
  const bool left = px > (kPlotLeft + kPlotRight) / 2;
  svg << "<line x1=\"" << num(px) << "\" y1=\"" << kPlotTop << "\" x2=\"" << num(px) << "\" y2=\""
      << kPlotBottom << "\" stroke=\"#C0392B\" stroke-dasharray=\"2,3\"/>\n";
  svg << "<circle cx=\"" << num(px) << "\" cy=\"" << num(py)
      << "\" r=\"5\" fill=\"#C0392B\" stroke=\"#fff\" stroke-width=\"1.5\"/>\n";
  svg << "<text x=\"" << num(left ? px - 10 : px + 10) << "\" y=\""
      << num(std::max(kPlotTop + 16, py - 10)) << "\" text-anchor=\"" << (left ? "end" : "start")
      << "\" font-family=\"sans-serif\" font-size=\"14\" font-weight=\"bold\" fill=\"#C0392B\" "
         "stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">"
      << xml_escape(label) << "</text>\n";
}

// "1.17 ms", "0.6 s": the width of a bucket, for the legend.
std::string bucket_label(uint64_t ns) {
  char buf[32];
  if (ns >= 1'000'000'000)
    snprintf(buf, sizeof buf, "%.3g s", static_cast<double>(ns) / 1e9);
  else if (ns >= 1'000'000)
    snprintf(buf, sizeof buf, "%.3g ms", static_cast<double>(ns) / 1e6);
  else
    snprintf(buf, sizeof buf, "%.3g us", static_cast<double>(ns) / 1e3);
  return buf;
}

void legend_entry(std::ostringstream& svg, size_t index, const std::string& swatch,
                  const std::string& label) {
  const double x = index % 2 == 0 ? kPlotLeft : (kPlotLeft + kPlotRight) / 2;
  const double y = kLegendTop + static_cast<double>(index / 2) * kLegendRow;
  svg << "<g transform=\"translate(" << num(x) << "," << num(y) << ")\">" << swatch
      << "<text x=\"30\" y=\"5\" font-family=\"sans-serif\" font-size=\"13\" fill=\"#222\">"
      << xml_escape(label) << "</text></g>\n";
}

size_t draw_legend(std::ostringstream& svg, const MemoryTimeline& t) {
  size_t n = 0;
  const auto box = [](const char* color) {
    return std::string("<rect x=\"0\" y=\"-6\" width=\"22\" height=\"12\" fill=\"") + color +
           "\" fill-opacity=\"0.85\"/>";
  };
  legend_entry(svg, n++,
               "<line x1=\"0\" y1=\"0\" x2=\"22\" y2=\"0\" stroke=\"#000\" stroke-width=\"2\"/>",
               "heap: live requested bytes (max per " + bucket_label(t.bucket_ns) + ")");
  legend_entry(svg, n++,
               "<line x1=\"0\" y1=\"0\" x2=\"22\" y2=\"0\" stroke=\"#C0392B\" stroke-width=\"2\" "
               "stroke-dasharray=\"6,4\"/>",
               "RSS (resident set size)");
  for (size_t i = 0; i < t.top_sites.size(); ++i) {
    const SourceLocation& site = t.top_sites[i];
    std::string label = short_site_label(site);
    if (!site.file.empty() && !site.function.empty()) label += "  " + site.function;
    if (label.size() > 70) label = label.substr(0, 67) + "...";
    legend_entry(svg, n++, box(kPalette[i % std::size(kPalette)]), label);
  }
  legend_entry(svg, n++, box(kOtherColor), "other sites");
  return n;
}

}  // namespace

std::string render_svg_plot(const MemoryTimeline& t, const PlotText& text) {
  const Scales s = make_scales(t);
  std::ostringstream body;
  draw_axes(body, s);
  draw_stack(body, t, s);
  draw_lines(body, t, s);
  draw_peak(body, t, s);
  const size_t entries = draw_legend(body, t);
  const double height = kLegendTop + static_cast<double>((entries + 1) / 2) * kLegendRow + 10;

  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\""
      << num(height) << "\" viewBox=\"0 0 " << kWidth << " " << num(height) << "\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
      << "<text x=\"" << kPlotLeft
      << "\" y=\"30\" font-family=\"sans-serif\" font-size=\"17\" "
         "font-weight=\"bold\" fill=\"#111\">"
      << xml_escape(text.title) << "</text>\n"
      << "<text x=\"" << kPlotLeft
      << "\" y=\"52\" font-family=\"sans-serif\" font-size=\"12\" "
         "fill=\"#555\">"
      << xml_escape(text.subtitle) << "</text>\n"
      << body.str() << "</svg>\n";
  return svg.str();
}

}  // namespace heapline::analysis
