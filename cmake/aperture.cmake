# aperture_test(NAME SOURCES a_test.cpp ... LIBS lib ...)
# Builds one GoogleTest binary and registers it with CTest.
function(aperture_test name)
  if(APERTURE_FUZZ)
    return()  # the fuzz build has no unit tests
  endif()
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE
    APERTURE_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    APERTURE_SHARED_DIR="${CMAKE_SOURCE_DIR}/../shared")
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit)
endfunction()
