# Trace format and reader tests, included from tests/CMakeLists.txt.
#
#  trace_format_test   varint / zigzag / Cursor / frame checksum, the layout the spec promises
#  trace_decode_test   traces built byte by byte from docs/trace-format.md: every record kind,
#                      the merge rule, deduplication, the offsets errors name
#  frame_encoder_test  the drain's recoding and compression of ring chunks, decoded as the spec says
#  trace_reader_test   real traces made at test time by tests/programs/format_fixture.c under
#                      the recorder, then cut, corrupted and swapped for foreign files
if(NOT TARGET GTest::gtest_main)
  find_package(GTest REQUIRED)
endif()
include(GoogleTest)

# include() keeps the includer's CMAKE_CURRENT_SOURCE_DIR, so paths are taken from this file.
get_filename_component(HEAPLINE_FORMAT_PROGRAMS "${CMAKE_CURRENT_LIST_DIR}/../programs" ABSOLUTE)

add_executable(trace_format_test ${CMAKE_CURRENT_LIST_DIR}/trace_format_test.cpp)
target_link_libraries(trace_format_test PRIVATE heapline_analysis GTest::gtest_main)
gtest_discover_tests(trace_format_test DISCOVERY_MODE PRE_TEST PROPERTIES TIMEOUT 60)

add_executable(trace_decode_test ${CMAKE_CURRENT_LIST_DIR}/trace_decode_test.cpp)
target_link_libraries(trace_decode_test PRIVATE heapline_analysis GTest::gtest_main)
gtest_discover_tests(trace_decode_test DISCOVERY_MODE PRE_TEST PROPERTIES TIMEOUT 60)

add_executable(frame_encoder_test ${CMAKE_CURRENT_LIST_DIR}/frame_encoder_test.cpp
               ${CMAKE_CURRENT_LIST_DIR}/../../preload/writer/frame_encoder.cpp)
target_include_directories(frame_encoder_test PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../../preload/writer)
target_link_libraries(frame_encoder_test PRIVATE heapline_format PkgConfig::LIBZSTD GTest::gtest_main)
gtest_discover_tests(frame_encoder_test DISCOVERY_MODE PRE_TEST PROPERTIES TIMEOUT 60)

# -O0: every malloc/free pair of the fixture must reach the hooks.
add_executable(format_fixture ${HEAPLINE_FORMAT_PROGRAMS}/format_fixture.c)
target_compile_options(format_fixture PRIVATE -O0 -g)
target_link_libraries(format_fixture PRIVATE Threads::Threads)

add_executable(trace_reader_test ${CMAKE_CURRENT_LIST_DIR}/trace_reader_test.cpp)
target_link_libraries(trace_reader_test PRIVATE heapline_analysis GTest::gtest_main)
# The test runs the fixture under the recorder, so both must be built first.
add_dependencies(trace_reader_test format_fixture heapline_preload)
target_compile_definitions(trace_reader_test PRIVATE
  FORMAT_FIXTURE="$<TARGET_FILE:format_fixture>"
  HEAPLINE_PRELOAD_LIBRARY="$<TARGET_FILE:heapline_preload>")
# TIMEOUT: the every-offset truncation and byte-flip sweeps must never hang.
gtest_discover_tests(trace_reader_test DISCOVERY_MODE PRE_TEST PROPERTIES TIMEOUT 120)
