# The sanitizer tree (issue 9, docs/design/hardening-plan.md §1 and §6).
#
# scripts/test.sh builds heapscope twice: the main tree (gcc, as shipped) and a
# sanitizer tree (clang, HS_SANITIZE=address,undefined, HS_FUZZ=ON) in which
# only the target `hs_san` is built: the tests of everything that is not
# preloaded (client, CLI, readers, wire) and the libFuzzer targets. The agent
# itself is never built there: a preloaded library cannot carry ASan's runtime.
#
# Both trees run the same CMakeLists. A test that should also run sanitized
# says so with hs_san_test next to its add_test:
#
#   hs_san_test(NAME unit-foo TARGET test_foo [ARGS arg...]
#               [LABELS l...] [TIMEOUT s] [ENVIRONMENT VAR=v...])
#   hs_san_test(NAME cli-foo TARGET heapscope COMMAND script.sh @SAN_FILE@ ...)
#
# In the sanitizer tree that adds the target to hs_san; in the main tree, when
# HS_SAN_DIR names a built sanitizer tree, it adds the ctest entry san-<NAME>
# running the sanitizer tree's build of the target (or COMMAND, with
# @SAN_FILE@ standing for it), so that one ctest run, with one summary line,
# runs both.
set(HS_SANITIZE "" CACHE STRING "Build with these -fsanitize= checks (e.g. address,undefined): the sanitizer tree")
set(HS_SAN_DIR "" CACHE PATH "A built sanitizer tree whose tests the main tree's ctest runs")
option(HS_FUZZ "Link the fuzz targets with libFuzzer (clang; the sanitizer tree)" OFF)

if(HS_SANITIZE)
  set(HS_SAN_FLAGS -fsanitize=${HS_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_compile_options(${HS_SAN_FLAGS})
  add_link_options(${HS_SAN_FLAGS})
  add_custom_target(hs_san)
endif()
if(HS_FUZZ AND NOT CMAKE_C_COMPILER_ID MATCHES Clang)
  message(FATAL_ERROR "HS_FUZZ needs clang (libFuzzer)")
endif()

# Sanitizer reports fail the test; LeakSanitizer included. A test's own
# ENVIRONMENT comes after these and may add to them.
set(HS_SAN_ENV "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
               "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

function(hs_san_test)
  cmake_parse_arguments(PARSE_ARGV 0 A "" "NAME;TARGET;TIMEOUT" "COMMAND;ARGS;LABELS;ENVIRONMENT")
  if(NOT A_NAME OR NOT A_TARGET)
    message(FATAL_ERROR "hs_san_test: NAME and TARGET are required")
  endif()
  if(HS_SANITIZE)
    add_dependencies(hs_san ${A_TARGET})
  elseif(HS_SAN_DIR)
    # Where the target lands in the other tree: the same output directory
    # rules, under HS_SAN_DIR instead of this tree's top.
    get_target_property(out ${A_TARGET} RUNTIME_OUTPUT_DIRECTORY)
    if(NOT out)
      set(out ${CMAKE_CURRENT_BINARY_DIR})
    endif()
    file(RELATIVE_PATH rel ${CMAKE_BINARY_DIR} ${out})
    get_target_property(base ${A_TARGET} OUTPUT_NAME)
    if(NOT base)
      set(base ${A_TARGET})
    endif()
    set(file ${HS_SAN_DIR}/${rel}/${base})
    if(A_COMMAND)
      list(TRANSFORM A_COMMAND REPLACE "@SAN_FILE@" "${file}" OUTPUT_VARIABLE cmd)
    else()
      set(cmd ${file} ${A_ARGS})
    endif()
    add_test(NAME san-${A_NAME} COMMAND ${cmd})
    if(NOT A_TIMEOUT)
      set(A_TIMEOUT 300)
    endif()
    set_tests_properties(san-${A_NAME} PROPERTIES LABELS "san;${A_LABELS}" TIMEOUT ${A_TIMEOUT}
                         ENVIRONMENT "${HS_SAN_ENV};${A_ENVIRONMENT}")
  endif()
endfunction()
