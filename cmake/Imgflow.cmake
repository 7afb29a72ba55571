# Helpers that keep flags on targets (never global) and give every module the same shape.

# imgflow_warnings(<target>): the project's warning set, private to the target. (No
# -Wnull-dereference: it depends on inlining and fires inside libstdc++ and Boost.Asio at -O2.)
function(imgflow_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Wunused -Woverloaded-virtual -Wdouble-promotion -Wformat=2
    -Wimplicit-fallthrough)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # GCC 12 reports impossible overlaps in inlined std::string concatenation (GCC bug 105329)
    # and uninitialised members inside std::regex and std::function at -O2; both are noise
    # there, and fatal with -Werror. The sanitizer build checks the real thing.
    target_compile_options(${target} PRIVATE -Wno-restrict -Wno-maybe-uninitialized)
  endif()
  if(IMGFLOW_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  target_compile_features(${target} PUBLIC cxx_std_20)
endfunction()

# imgflow_module(<name> SOURCES ... [PUBLIC_LIBS ...] [PRIVATE_LIBS ...])
# Defines library imgflow_<name> (alias imgflow::<name>) whose headers are included as
# "<name>/header.h" from src/.
function(imgflow_module name)
  cmake_parse_arguments(M "" "" "SOURCES;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  add_library(imgflow_${name} STATIC ${M_SOURCES})
  add_library(imgflow::${name} ALIAS imgflow_${name})
  target_include_directories(imgflow_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(imgflow_${name} PUBLIC ${M_PUBLIC_LIBS} PRIVATE ${M_PRIVATE_LIBS})
  imgflow_warnings(imgflow_${name})
endfunction()

# Tests run libvips as the imgflow binary does (apps/imgflow/main.cpp): with VIPSHOME pointed
# away, so libvips loads none of its modules at start and the HEIF module only on first use.
set(IMGFLOW_TEST_ENVIRONMENT "VIPSHOME=/nonexistent/imgflow-loads-its-vips-modules-itself")

# imgflow_test(<name> SOURCES ... LIBS ... [LABELS ...] [TIMEOUT s])
# A GoogleTest executable registered with ctest, one ctest case per TEST().
# Tests find checked-in data through IMGFLOW_SOURCE_DIR.
function(imgflow_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT IMGFLOW_BUILD_TESTS)
    return()
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gmock GTest::gtest_main)
  # Helpers every module's tests share: #include "support/....h" (tests/support).
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE IMGFLOW_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  imgflow_warnings(${name})
  # Cases are named "<executable>.<Suite>.<Test>", so `ctest -R image_test` selects a module's.
  # (gtest_discover_tests keeps only the first of several LABELS.)
  if(NOT T_LABELS)
    set(T_LABELS ${name})
  endif()
  gtest_discover_tests(${name}
    TEST_PREFIX "${name}."
    DISCOVERY_MODE PRE_TEST
    DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}" ENVIRONMENT "${IMGFLOW_TEST_ENVIRONMENT}")
endfunction()

# imgflow_fuzz_target(<name> SOURCE <file> LIBS ... CORPUS <dir>)
# A libFuzzer entry point (LLVMFuzzerTestOneInput) built two ways: as <name>_replay, which ctest
# runs over the checked-in corpus in every build, and with IMGFLOW_FUZZ as the real fuzzer
# <name>_fuzzer (clang, -fsanitize=fuzzer).
function(imgflow_fuzz_target name)
  cmake_parse_arguments(F "" "SOURCE;CORPUS" "LIBS" ${ARGN})
  if(IMGFLOW_BUILD_TESTS)
    add_executable(${name}_replay ${F_SOURCE} ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cpp)
    target_link_libraries(${name}_replay PRIVATE ${F_LIBS})
    imgflow_warnings(${name}_replay)
    add_test(NAME ${name}_replay COMMAND ${name}_replay ${F_CORPUS})
    set_tests_properties(${name}_replay PROPERTIES TIMEOUT 300 LABELS "fuzz;${name}"
      ENVIRONMENT "${IMGFLOW_TEST_ENVIRONMENT}")
  endif()
  if(IMGFLOW_FUZZ)
    add_executable(${name}_fuzzer ${F_SOURCE})
    target_link_libraries(${name}_fuzzer PRIVATE ${F_LIBS})
    target_compile_options(${name}_fuzzer PRIVATE -fsanitize=fuzzer)
    target_link_options(${name}_fuzzer PRIVATE -fsanitize=fuzzer)
    imgflow_warnings(${name}_fuzzer)
  endif()
endfunction()

# imgflow_link_order(<target>): puts the shared libraries listed in cmake/link-order.txt first
# in the target's DT_NEEDED list, in that order. Start-up is mostly the dynamic loader looking
# symbols up through ~105 libraries in that order; the most-bound first makes each walk short
# (scripts/link-order explains and regenerates the list). The list is of one platform (Debian 12's
# libvips and its dependencies): if any library in it is not installed, this is another platform
# and the list could name libraries imgflow does not need there, so none is added. Off for
# sanitizer builds, whose runtime must come first.
function(imgflow_link_order target)
  if(NOT IMGFLOW_LINK_ORDER OR CMAKE_CXX_FLAGS MATCHES "-fsanitize")
    return()
  endif()
  file(STRINGS ${PROJECT_SOURCE_DIR}/cmake/link-order.txt sonames REGEX "^[^#]")
  set(paths "")
  set(missing "")
  foreach(soname IN LISTS sonames)
    find_library(path NAMES ${soname} NO_CACHE)
    if(path)
      list(APPEND paths ${path})
    else()
      list(APPEND missing ${soname})
    endif()
    unset(path)
  endforeach()
  if(missing)
    list(JOIN missing ", " missing_text)
    message(STATUS "imgflow: link order not applied (not installed: ${missing_text}); "
                   "scripts/link-order writes one for this platform")
    return()
  endif()
  list(LENGTH paths found)
  message(STATUS "imgflow: ${target} links its ${found} shared libraries most-bound first")
  target_link_options(${target} PRIVATE "LINKER:--push-state,--no-as-needed" ${paths} "LINKER:--pop-state")
endfunction()
