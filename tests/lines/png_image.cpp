#include "png_image.h"

#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace heapline::lines_test {
namespace {

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// PNG's Paeth predictor (PNG specification, section 9.4).
int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

}  // namespace

PngImage read_png(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<unsigned char> file((std::istreambuf_iterator<char>(in)), {});
  static const unsigned char kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (file.size() < 8 || std::memcmp(file.data(), kSignature, 8) != 0)
    throw std::runtime_error(path + ": not a PNG");
  PngImage img;
  int color_type = 0;
  std::vector<unsigned char> compressed;
  for (size_t pos = 8; pos + 12 <= file.size();) {
    const uint32_t length = be32(&file[pos]);
    const std::string type(reinterpret_cast<const char*>(&file[pos + 4]), 4);
    const unsigned char* data = &file[pos + 8];
    if (pos + 12 + length > file.size()) throw std::runtime_error(path + ": truncated chunk");
    if (type == "IHDR") {
      img.width = be32(data);
      img.height = be32(data + 4);
      color_type = data[9];
      if (data[8] != 8 || (color_type != 2 && color_type != 6) || data[12] != 0)
        throw std::runtime_error(path + ": only 8-bit RGB/RGBA, non-interlaced");
    } else if (type == "IDAT") {
      compressed.insert(compressed.end(), data, data + length);
    } else if (type == "IEND") {
      break;
    }
    pos += 12 + length;
  }
  const size_t channels = color_type == 6 ? 4 : 3;
  const size_t stride = img.width * channels;
  std::vector<unsigned char> raw((stride + 1) * img.height);
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size, compressed.data(), compressed.size()) != Z_OK ||
      raw_size != raw.size())
    throw std::runtime_error(path + ": bad image data");

  std::vector<unsigned char> prev(stride, 0), row(stride);
  img.pixels.reserve(static_cast<size_t>(img.width) * img.height);
  for (uint32_t y = 0; y < img.height; ++y) {
    const unsigned char* line = &raw[y * (stride + 1)];
    const int filter = line[0];
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= channels ? row[i - channels] : 0, b = prev[i],
                c = i >= channels ? prev[i - channels] : 0;
      int predicted = 0;
      switch (filter) {
        case 0:
          predicted = 0;
          break;
        case 1:
          predicted = a;
          break;
        case 2:
          predicted = b;
          break;
        case 3:
          predicted = (a + b) / 2;
          break;
        case 4:
          predicted = paeth(a, b, c);
          break;
        default:
          throw std::runtime_error(path + ": bad filter");
      }
      row[i] = static_cast<unsigned char>(line[1 + i] + predicted);
    }
    for (uint32_t x = 0; x < img.width; ++x) {
      const unsigned char* p = &row[x * channels];
      const int alpha = channels == 4 ? p[3] : 255;
      auto over_white = [&](int v) {
        return static_cast<uint8_t>((v * alpha + 255 * (255 - alpha)) / 255);
      };
      img.pixels.push_back({over_white(p[0]), over_white(p[1]), over_white(p[2])});
    }
    prev.swap(row);
  }
  return img;
}

}  // namespace heapline::lines_test
