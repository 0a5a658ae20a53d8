# Analyzer model unit tests, included from tests/CMakeLists.txt.
#
#  address_map_test   the live-block map against std::unordered_map: heap churn, dense pages
#                     (the switch to scattered placement), aligned and colliding keys
if(NOT TARGET GTest::gtest_main)
  find_package(GTest REQUIRED)
endif()
include(GoogleTest)

add_executable(address_map_test ${CMAKE_CURRENT_LIST_DIR}/address_map_test.cpp)
target_link_libraries(address_map_test PRIVATE heapline_analysis GTest::gtest_main)
gtest_discover_tests(address_map_test DISCOVERY_MODE PRE_TEST PROPERTIES TIMEOUT 60)

# record_pipeline_test: read_pipelined against TraceReader::read on the format fixture's traces
# (record for record), cut short, and with a visitor that throws.
add_executable(record_pipeline_test ${CMAKE_CURRENT_LIST_DIR}/record_pipeline_test.cpp)
target_link_libraries(record_pipeline_test PRIVATE heapline_test_support GTest::gtest_main)
add_dependencies(record_pipeline_test format_fixture heapline_preload)
target_compile_definitions(record_pipeline_test PRIVATE FORMAT_FIXTURE="$<TARGET_FILE:format_fixture>")
gtest_discover_tests(record_pipeline_test DISCOVERY_MODE PRE_TEST PROPERTIES TIMEOUT 120)

# json_report_test: the streamed JSON report (leak groups written by hand) against nlohmann's
# dump of the whole document, with escapes, empty stacks and 64-bit extremes.
add_executable(json_report_test ${CMAKE_CURRENT_LIST_DIR}/json_report_test.cpp)
target_link_libraries(json_report_test PRIVATE heapline_analysis GTest::gtest_main)
gtest_discover_tests(json_report_test DISCOVERY_MODE PRE_TEST PROPERTIES TIMEOUT 60)

# frame_pool_test: interned frames (what a report's leak stacks point to).
add_executable(frame_pool_test ${CMAKE_CURRENT_LIST_DIR}/frame_pool_test.cpp)
target_link_libraries(frame_pool_test PRIVATE heapline_analysis GTest::gtest_main)
gtest_discover_tests(frame_pool_test DISCOVERY_MODE PRE_TEST PROPERTIES TIMEOUT 60)

# allocation_model_test: the model's and the live replay's figures for records fed directly,
# with blocks of 4 GiB and more (kept beside the live map), full and sampled.
add_executable(allocation_model_test ${CMAKE_CURRENT_LIST_DIR}/allocation_model_test.cpp)
target_link_libraries(allocation_model_test PRIVATE heapline_analysis GTest::gtest_main)
gtest_discover_tests(allocation_model_test DISCOVERY_MODE PRE_TEST PROPERTIES TIMEOUT 60)
