// The function index (symbolizer/function_index.h) on the symbolizer fixture's DWARF, read with
// libdw directly: for each captured pc it must answer with the same concrete scope chain that
// libdw's dwarf_getscopes (+ dwarf_getscopes_die past an inlined instance) gives, and answer
// nothing for a pc no function covers. That the symbolizer's frames do not change with the index
// is checked on 500 libc pcs in compressed_debug_test.cpp.
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "symbolizer/function_index.h"
#include "symbolizer_fixture.h"

namespace heapline::analysis {
namespace {

using namespace testing_support;

struct OpenDwarf {
  explicit OpenDwarf(const std::string& path)
      : fd(open(path.c_str(), O_RDONLY)), dwarf(fd >= 0 ? dwarf_begin(fd, DWARF_C_READ) : nullptr) {}
  ~OpenDwarf() {
    if (dwarf) dwarf_end(dwarf);
    if (fd >= 0) close(fd);
  }
  int fd;
  Dwarf* dwarf;
};

// libdw's answer: the concrete chain, innermost first (as inline_frames.cpp builds it).
std::vector<Dwarf_Off> libdw_chain(Dwarf_Die* cu, Dwarf_Addr pc) {
  Dwarf_Die* scopes = nullptr;
  const int count = dwarf_getscopes(cu, pc, &scopes);
  std::vector<Dwarf_Off> chain;
  if (count <= 0) return chain;
  Dwarf_Die* concrete = nullptr;
  const int depth = dwarf_getscopes_die(&scopes[0], &concrete);
  for (int i = 0; i < depth; ++i) {
    const int tag = dwarf_tag(&concrete[i]);
    if (tag == DW_TAG_compile_unit) break;  // the index's chains end at the outermost function
    chain.push_back(dwarf_dieoffset(&concrete[i]));
  }
  free(concrete);
  free(scopes);
  return chain;
}

std::vector<Dwarf_Off> offsets(const std::vector<Dwarf_Die>& dies) {
  std::vector<Dwarf_Off> out;
  for (Dwarf_Die die : dies) out.push_back(dwarf_dieoffset(&die));
  return out;
}

TEST(FunctionIndexTest, GivesLibdwsScopeChainForEveryCapture) {
  const FixtureOutput fixture = run_fixture();
  ASSERT_EQ(fixture.addresses.size(), 4u);
  OpenDwarf file(kFixture);
  ASSERT_NE(file.dwarf, nullptr);
  FunctionIndex index;
  size_t inlined_chains = 0;
  for (const auto& [capture, address] : fixture.addresses) {
    const Dwarf_Addr pc = capture == "entry_cxx" ? address : address - 1;
    Dwarf_Die cu;
    ASSERT_NE(dwarf_addrdie(file.dwarf, pc, &cu), nullptr) << capture;
    const std::vector<Dwarf_Die> chain = index.scope_chain(&cu, pc);
    ASSERT_FALSE(chain.empty()) << capture;  // every capture is inside a function
    EXPECT_EQ(offsets(chain), libdw_chain(&cu, pc)) << capture;
    Dwarf_Die outermost = chain.back();
    EXPECT_EQ(dwarf_tag(&outermost), DW_TAG_subprogram) << capture;
    Dwarf_Die innermost = chain.front();
    inlined_chains += dwarf_tag(&innermost) == DW_TAG_inlined_subroutine;
  }
  EXPECT_GE(inlined_chains, 1u);  // ret_inlined: scaled() inlined into its caller

  // A pc below every function of the unit: no answer (the caller asks libdw).
  Dwarf_Die cu;
  const Dwarf_Addr pc = fixture.addresses.at("ret_cxx") - 1;
  ASSERT_NE(dwarf_addrdie(file.dwarf, pc, &cu), nullptr);
  EXPECT_TRUE(index.scope_chain(&cu, 1).empty());
}

}  // namespace
}  // namespace heapline::analysis
