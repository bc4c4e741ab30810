# The analysis (src/formats/analysis.h): cmocka tests on graphs built by hand,
# and node for node against memlab's dominators and retained sizes on
# snapshots from node and from the agent (analysis-memlab.test.js, run with
# node --test; memlab from tests/node/node_modules). hs_analyze_dump reads
# with the streaming reader (snap_read.c), as the CLI does.
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

add_executable(test_analysis ${CMAKE_CURRENT_LIST_DIR}/test_analysis.c)
target_link_libraries(test_analysis PRIVATE hs_formats PkgConfig::CMOCKA)
add_test(NAME formats-analysis COMMAND test_analysis)
set_tests_properties(formats-analysis PROPERTIES LABELS "unit;formats" TIMEOUT 60)
hs_san_test(NAME formats-analysis TARGET test_analysis LABELS "unit;formats")

add_executable(hs_analyze_dump ${CMAKE_CURRENT_LIST_DIR}/hs_analyze_dump.c)
target_link_libraries(hs_analyze_dump PRIVATE hs_formats PkgConfig::JANSSON)

find_program(HS_FORMATS_NODE node)
if(NOT HS_FORMATS_NODE)
  message(WARNING "node not found: formats-analysis-memlab will fail (scripts/deps.sh test)")
  set(HS_FORMATS_NODE node)
endif()
add_test(NAME formats-analysis-memlab
  COMMAND ${HS_FORMATS_NODE} --test --test-reporter=spec ${CMAKE_CURRENT_LIST_DIR}/analysis-memlab.test.js
  WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(formats-analysis-memlab PROPERTIES LABELS "peers;formats" TIMEOUT 300
  ENVIRONMENT "HS_ANALYZE_DUMP=$<TARGET_FILE:hs_analyze_dump>;HS_KNOWN_HEAP=$<TARGET_FILE:hs-known-heap>;HS_AGENT_LIB=$<TARGET_FILE:heapscope_agent>;HS_SHARED_DIR=${PROJECT_SOURCE_DIR}/../shared;NODE_PATH=${PROJECT_SOURCE_DIR}/tests/node/node_modules")
