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
