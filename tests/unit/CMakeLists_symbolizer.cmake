# Symbolizer tests, included from tests/CMakeLists.txt. Builds the fixture program at -O2 -g,
# derives its stripped and debuglinked copies, and a GoogleTest executable that symbolizes the
# addresses the fixture prints about itself.
if(NOT TARGET GTest::gtest_main)
  find_package(GTest REQUIRED)
endif()
include(GoogleTest)

# include() keeps the includer's CMAKE_CURRENT_SOURCE_DIR, so paths are taken from this file.
get_filename_component(HEAPLINE_SYMBOLIZER_PROGRAMS
                       "${CMAKE_CURRENT_LIST_DIR}/../programs" ABSOLUTE)

add_executable(symbolizer_fixture
  ${HEAPLINE_SYMBOLIZER_PROGRAMS}/symbolizer_fixture.c
  ${HEAPLINE_SYMBOLIZER_PROGRAMS}/symbolizer_fixture.cpp)
# Fixed whatever CMAKE_BUILD_TYPE says (these come after its flags, so they win): the test is
# about what -O2 inlining looks like in DWARF.
target_compile_options(symbolizer_fixture PRIVATE -O2 -g)

set(_fixture "$<TARGET_FILE:symbolizer_fixture>")
add_custom_command(TARGET symbolizer_fixture POST_BUILD
  # Symbol table kept, DWARF gone: the "no debug info" path.
  COMMAND ${CMAKE_OBJCOPY} --strip-debug ${_fixture} ${_fixture}_stripped
  # DWARF alone, as distributions ship it in -dbgsym packages.
  COMMAND ${CMAKE_OBJCOPY} --only-keep-debug ${_fixture} ${_fixture}.debug
  # Fully stripped, pointing at the .debug file (same directory) through .gnu_debuglink.
  COMMAND ${CMAKE_OBJCOPY} --strip-all --add-gnu-debuglink=${_fixture}.debug
          ${_fixture} ${_fixture}_debuglinked
  # The same with SHF_COMPRESSED (zlib) DWARF, as distributions ship debug files, and a whole
  # program built with -gz: both are read through the inflated-image path.
  COMMAND ${CMAKE_OBJCOPY} --compress-debug-sections=zlib ${_fixture}.debug ${_fixture}.zlib.debug
  COMMAND ${CMAKE_OBJCOPY} --compress-debug-sections=zlib ${_fixture} ${_fixture}_zlib
  VERBATIM)
unset(_fixture)

add_executable(symbolizer_test ${CMAKE_CURRENT_LIST_DIR}/symbolizer_test.cpp
                               ${CMAKE_CURRENT_LIST_DIR}/compressed_debug_test.cpp
                               ${CMAKE_CURRENT_LIST_DIR}/function_index_test.cpp)
target_link_libraries(symbolizer_test PRIVATE heapline_symbolizer PkgConfig::LIBDW GTest::gtest_main)
add_dependencies(symbolizer_test symbolizer_fixture)
target_compile_definitions(symbolizer_test PRIVATE
  SYMBOLIZER_FIXTURE="$<TARGET_FILE:symbolizer_fixture>"
  SYMBOLIZER_FIXTURE_C_SOURCE="${HEAPLINE_SYMBOLIZER_PROGRAMS}/symbolizer_fixture.c"
  SYMBOLIZER_FIXTURE_CXX_SOURCE="${HEAPLINE_SYMBOLIZER_PROGRAMS}/symbolizer_fixture.cpp")
gtest_discover_tests(symbolizer_test DISCOVERY_MODE PRE_TEST)
