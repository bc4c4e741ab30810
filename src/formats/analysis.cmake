# DevTools' graph analysis of a snapshot (analysis.h): distances, shallow-size
# redistribution, dominators (Lengauer–Tarjan), retained sizes, class names.
target_sources(hs_formats PRIVATE ${CMAKE_CURRENT_LIST_DIR}/analysis.c)
