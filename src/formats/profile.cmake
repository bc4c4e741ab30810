# .heapprofile reading (yajl) and its exports: pprof (protobuf-c, our own
# profile.proto compiled by protoc-c here, gzip'd with zlib), collapsed
# stacks, an HTML flame graph (profile.h).
if(NOT TARGET PkgConfig::YAJL)
  pkg_check_modules(YAJL REQUIRED IMPORTED_TARGET GLOBAL yajl)
endif()
if(NOT TARGET PkgConfig::PROTOBUF_C)
  pkg_check_modules(PROTOBUF_C REQUIRED IMPORTED_TARGET GLOBAL libprotobuf-c)
endif()
find_package(ZLIB REQUIRED)
find_program(HS_PROTOC_C protoc-c REQUIRED)

set(HS_PROFILE_PB ${CMAKE_CURRENT_BINARY_DIR}/profile.pb-c.c)
add_custom_command(
  OUTPUT ${HS_PROFILE_PB} ${CMAKE_CURRENT_BINARY_DIR}/profile.pb-c.h
  COMMAND ${HS_PROTOC_C} --c_out=${CMAKE_CURRENT_BINARY_DIR}
          --proto_path=${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/profile.proto
  DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/profile.proto
  COMMENT "protoc-c profile.proto")
# Generated code: not ours to hold to our warnings.
set_source_files_properties(${HS_PROFILE_PB} PROPERTIES COMPILE_OPTIONS -w)

set(HS_PROFILE_SOURCES
    ${CMAKE_CURRENT_SOURCE_DIR}/profile_read.c ${CMAKE_CURRENT_SOURCE_DIR}/pprof.c
    ${CMAKE_CURRENT_SOURCE_DIR}/collapsed.c ${CMAKE_CURRENT_SOURCE_DIR}/flame_html.c
    ${HS_PROFILE_PB})
target_sources(hs_formats PRIVATE ${HS_PROFILE_SOURCES})
target_include_directories(hs_formats PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
target_link_libraries(hs_formats PUBLIC PkgConfig::YAJL PkgConfig::PROTOBUF_C ZLIB::ZLIB)
