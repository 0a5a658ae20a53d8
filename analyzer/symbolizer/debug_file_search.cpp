#include "debug_file_search.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

namespace heapline::analysis {
namespace {

// Could opening `path` succeed, or fail otherwise than "nothing there"? (libdwfl's try_open goes
// on to the next place only on ENOENT and ENOTDIR.)
bool may_exist(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0) return true;
  return errno != ENOENT && errno != ENOTDIR;
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

// One pass of the debuglink search over `search_path` for the module at `module_path`, in the
// order libdwfl's find_debuginfo_in_path tries the places (empty element: the module's directory;
// absolute: that root + the module's directory, then its sub-directories; relative: that
// sub-directory of the module's directory).
bool any_candidate(const std::string& module_path, const char* debuglink,
                   const std::string& search_path) {
  const size_t slash = module_path.rfind('/');
  const std::string basename = slash == std::string::npos ? module_path : module_path.substr(slash + 1);
  const std::string dirname = slash == std::string::npos ? std::string() : module_path.substr(0, slash);
  const bool invented = debuglink == nullptr;
  const std::string link = invented ? basename + ".debug" : std::string(debuglink);

  std::string path = search_path;
  if (!path.empty() && (path[0] == '+' || path[0] == '-')) path.erase(0, 1);
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string element = path.substr(start, end - start);
    start = end + 1;
    if (!element.empty() && (element[0] == '+' || element[0] == '-')) element.erase(0, 1);

    if (element.empty()) {
      if (may_exist(join(dirname, link))) return true;
    } else if (element[0] == '/') {
      if (dirname.empty() || dirname[0] != '/') continue;
      // "/usr/bin" under root R: R/usr/bin/, R/bin/, then R/ itself.
      for (size_t cut = 0;;) {
        const size_t next = dirname.find('/', cut);
        const std::string sub = next == std::string::npos ? std::string() : dirname.substr(next + 1);
        const std::string dir = sub.empty() ? element : element + "/" + sub;
        if (may_exist(dir + "/" + link)) return true;
        if (invented && may_exist(dir + "/" + basename)) return true;
        if (next == std::string::npos) break;
        cut = next + 1;
      }
    } else {
      const std::string dir = join(dirname, element);
      if (may_exist(dir + "/" + link)) return true;
      if (invented && may_exist(dir + "/" + basename)) return true;
    }
  }
  return false;
}

}  // namespace

BuildIdFile open_build_id_debug_file(const std::vector<std::string>& roots,
                                     const std::string& build_id_hex) {
  BuildIdFile found;
  if (build_id_hex.size() < 4) return found;
  const std::string relative =
      "/.build-id/" + build_id_hex.substr(0, 2) + "/" + build_id_hex.substr(2) + ".debug";
  for (const std::string& root : roots) {
    if (root.empty() || root[0] != '/') continue;  // libdwfl only tries absolute roots
    const std::string path = root + relative;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      found.failed = true;
      return found;
    }
    char canonical[PATH_MAX];
    found.fd = fd;
    found.path = realpath(path.c_str(), canonical) != nullptr ? canonical : path;
    return found;
  }
  return found;
}

bool debuglink_candidates_exist(const std::string& module_path, const char* debuglink,
                                const std::string& search_path) {
  if (any_candidate(module_path, debuglink, search_path)) return true;
  // libdwfl searches again from the canonical name when the module's path is a symlink.
  char canonical[PATH_MAX];
  if (realpath(module_path.c_str(), canonical) != nullptr && module_path != canonical)
    return any_candidate(canonical, debuglink, search_path);
  return false;
}

bool debuginfod_configured() {
  const char* urls = std::getenv("DEBUGINFOD_URLS");
  return urls != nullptr && urls[0] != '\0';
}

}  // namespace heapline::analysis
