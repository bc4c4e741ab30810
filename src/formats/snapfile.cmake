# The streaming .heapsnapshot / .heaptimeline reader (snapfile.h, snap_read.c):
# yajl's event parser (Debian libyajl-dev), never a JSON tree.
if(NOT TARGET PkgConfig::YAJL)
  pkg_check_modules(YAJL REQUIRED IMPORTED_TARGET GLOBAL yajl)
endif()
target_sources(hs_formats PRIVATE ${CMAKE_CURRENT_LIST_DIR}/snap_read.c)
target_link_libraries(hs_formats PUBLIC PkgConfig::YAJL)
