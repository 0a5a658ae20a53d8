// A minimal PNG reader for the plot test: 8-bit RGB or RGBA, non-interlaced (what rsvg-convert
// writes), decoded with zlib, so the test can look at the rendered pixels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace heapline::lines_test {

struct Rgb {
  uint8_t r, g, b;
};

struct PngImage {
  uint32_t width = 0, height = 0;
  std::vector<Rgb> pixels;  // row-major; alpha composited over white
  Rgb at(uint32_t x, uint32_t y) const { return pixels[static_cast<size_t>(y) * width + x]; }
};

// Throws std::runtime_error on anything it does not handle.
PngImage read_png(const std::string& path);

}  // namespace heapline::lines_test
