# The .heapprofile reader and its exports (src/formats/profile.cmake): Node
# 20's profiles, the agent's and a legacy one, exact errors, every prefix and
# bit flip; once as built, once in the sanitizer tree (san-formats-profile).
# Label: formats.
if(NOT TARGET PkgConfig::CMOCKA)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
set(HS_PROFILE_TEST_ARGS ${PROJECT_SOURCE_DIR}/../shared/golden/v8-node20
    ${CMAKE_CURRENT_SOURCE_DIR}/data/profile)

add_executable(test_profile ${CMAKE_CURRENT_SOURCE_DIR}/test_profile.c)
target_include_directories(test_profile PRIVATE ${PROJECT_BINARY_DIR}/src/formats)
target_link_libraries(test_profile PRIVATE hs_formats PkgConfig::CMOCKA)
add_test(NAME formats-profile COMMAND test_profile ${HS_PROFILE_TEST_ARGS})
set_tests_properties(formats-profile PROPERTIES LABELS formats TIMEOUT 300)
hs_san_test(NAME formats-profile TARGET test_profile LABELS formats ARGS ${HS_PROFILE_TEST_ARGS})

# Its libFuzzer target: tests/fuzz (fuzz_profile).
