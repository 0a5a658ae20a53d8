// The first steps of libdwfl's standard separate-debug-file search, done ahead of it so that the
// symbolizer knows, without loading any DWARF, which file will carry a module's debug info.
//
// dwfl_standard_find_debuginfo (elfutils 0.188) tries <root>/.build-id/xx/rest.debug for each
// absolute root of the search path, then the .gnu_debuglink name in the module's directory, its
// .debug/ subdirectory and under each root, and when all of that finds nothing it asks
// debuginfod, which it dlopens first whether DEBUGINFOD_URLS is set or not: libdebuginfod pulls
// in libcurl, gnutls, krb5 and libcrypto (~25 libraries, ~6 ms of relocations and constructors,
// a tenth of the whole report of a short run) only to answer that it has no server to ask.
#pragma once

#include <string>
#include <vector>

namespace heapline::analysis {

// The build-id lookup: the first <root>/.build-id/xx/rest.debug that exists under an absolute
// root, its path canonicalized as libdwfl does. `build_id_hex` is lowercase hex (at least 2
// bytes). The caller checks the file's own build-id. Empty path: no such file.
struct BuildIdFile {
  int fd = -1;            // O_RDONLY|O_CLOEXEC, owned by the caller
  std::string path;
  bool failed = false;    // a file was there but could not be opened (not ENOENT/ENOTDIR)
};
BuildIdFile open_build_id_debug_file(const std::vector<std::string>& roots,
                                     const std::string& build_id_hex);

// True when some file exists (or cannot be checked) where the debuglink search would look for
// `debuglink` (null: the module has none, and `<basename>.debug` and `<basename>` are tried) of
// the module at `module_path`, with `search_path` as in Dwfl_Callbacks::debuginfo_path.
// False means that search can only come back empty.
bool debuglink_candidates_exist(const std::string& module_path, const char* debuglink,
                                const std::string& search_path);

// True when the debuginfod client could ask a server: DEBUGINFOD_URLS set and not empty.
// Without one, libdebuginfod answers -ENOSYS to every query without touching its cache.
bool debuginfod_configured();

}  // namespace heapline::analysis
