# Helpers that keep flags on targets (never global) and give every module the same shape.

# imgflow_warnings(<target>): the project's warning set, private to the target.
function(imgflow_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Wunused -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion -Wformat=2
    -Wimplicit-fallthrough)
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
  target_compile_definitions(${name} PRIVATE IMGFLOW_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  imgflow_warnings(${name})
  gtest_discover_tests(${name}
    DISCOVERY_MODE PRE_TEST
    DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()
