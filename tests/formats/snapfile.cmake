# The snapshot reader (src/formats/snap_read.c) against jansson's reading of
# the same files; the same test again in the sanitizer tree (ASan, UBSan,
# LeakSanitizer: san-unit-snapfile), for the every-prefix and
# every-byte-change cases.
if(NOT TARGET PkgConfig::CMOCKA)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
if(NOT TARGET PkgConfig::YAJL)
  pkg_check_modules(YAJL REQUIRED IMPORTED_TARGET yajl)
endif()

set(HS_SNAPFILE_TEST_DEFS HS_GOLDEN_DIR="${PROJECT_SOURCE_DIR}/../shared/golden/v8-node20"
                          HS_DATA_DIR="${CMAKE_CURRENT_LIST_DIR}/data")

add_executable(test_snapfile ${CMAKE_CURRENT_LIST_DIR}/test_snapfile.c)
target_compile_definitions(test_snapfile PRIVATE ${HS_SNAPFILE_TEST_DEFS})
target_link_libraries(test_snapfile PRIVATE hs_formats PkgConfig::CMOCKA PkgConfig::JANSSON)
add_test(NAME unit-snapfile COMMAND test_snapfile)
set_tests_properties(unit-snapfile PROPERTIES LABELS "unit;formats" TIMEOUT 60)
hs_san_test(NAME unit-snapfile TARGET test_snapfile LABELS "unit;formats")
# Its libFuzzer target: tests/fuzz (fuzz_snapfile).
