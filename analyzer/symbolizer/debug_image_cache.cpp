#include "symbolizer/debug_image_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "symbolizer/inflated_debug_file.h"

namespace heapline::analysis {
namespace {

// Bumped whenever the rewrite lays an image out differently, so old images are not even opened.
constexpr std::string_view kLayoutVersion = "v1";

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string DebugImageCache::directory_from_environment() {
  if (const char* dir = std::getenv("HEAPLINE_CACHE_DIR")) return dir;  // "" turns it off
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/')
    return std::string(xdg) + "/heapline";
  if (const char* home = std::getenv("HOME"); home && *home == '/')
    return std::string(home) + "/.cache/heapline";
  return "";
}

std::string DebugImageCache::path_for(std::string_view build_id_hex) const {
  std::string path = directory_;
  path += "/debug/";
  path += build_id_hex;
  path += '.';
  path += kLayoutVersion;
  path += ".debug";
  return path;
}

ElfImage DebugImageCache::find(std::string_view build_id_hex, size_t size) const {
  if (!wants(size) || build_id_hex.empty()) return {};
  const int fd = ::open(path_for(build_id_hex).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  struct stat st;
  ElfImage image;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) == size)
    image = ElfImage::map_file(fd, size);
  ::close(fd);
  return image;
}

bool DebugImageCache::store(std::string_view build_id_hex, const ElfImage& image) const {
  if (!wants(image.size()) || build_id_hex.empty() || image.empty()) return false;
  const std::string path = path_for(build_id_hex);
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ignored);
  // A name of its own per writer: two reports of the same program may store at once, and the
  // rename makes whichever finishes last the kept one, whole either way.
  const std::string temporary = path + ".tmp." + std::to_string(getpid()) + "." +
                                std::to_string(static_cast<unsigned long>(gettid()));
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = write_all(fd, image.data(), image.size());
  ok = (::close(fd) == 0) && ok;  // a full disk can surface only at close (NFS, quotas)
  if (ok && ::rename(temporary.c_str(), path.c_str()) == 0) return true;
  ::unlink(temporary.c_str());
  return false;
}

}  // namespace heapline::analysis
