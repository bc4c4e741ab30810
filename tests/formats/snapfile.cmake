# The snapshot reader (src/formats/snap_read.c) against jansson's reading of
# the same files; the same test again with AddressSanitizer and UBSan, for the
# every-prefix and every-byte-change cases.
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

# The reader compiled into the test itself, both instrumented.
set(HS_SNAPFILE_ASAN -fsanitize=address,undefined -fno-sanitize-recover=all
                     -fno-omit-frame-pointer)
add_executable(test_snapfile_asan ${CMAKE_CURRENT_LIST_DIR}/test_snapfile.c
                                  ${PROJECT_SOURCE_DIR}/src/formats/snap_read.c)
target_include_directories(test_snapfile_asan PRIVATE ${PROJECT_SOURCE_DIR}/src/formats)
target_compile_definitions(test_snapfile_asan PRIVATE ${HS_SNAPFILE_TEST_DEFS})
target_compile_options(test_snapfile_asan PRIVATE ${HS_SNAPFILE_ASAN})
target_link_options(test_snapfile_asan PRIVATE ${HS_SNAPFILE_ASAN})
target_link_libraries(test_snapfile_asan PRIVATE PkgConfig::YAJL PkgConfig::CMOCKA
                                                 PkgConfig::JANSSON)
add_test(NAME unit-snapfile-asan COMMAND test_snapfile_asan)
set_tests_properties(unit-snapfile-asan PROPERTIES LABELS "unit;formats" TIMEOUT 120
                     ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")
# Its libFuzzer target: tests/fuzz (fuzz_snapfile).
