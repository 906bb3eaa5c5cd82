# Reference-kernel op tests: gen_cases.py writes seeded random cases computed independently with NumPy into the build
# folder, then check_ref_ops runs every reference kernel on them (tolerance 1e-5 abs + 1e-5 rel) and prints
# "<Op>: N passed, M failed" per op. Run just these with: ctest -L ops --output-on-failure
find_package(Python3 COMPONENTS Interpreter)

add_executable(check_ref_ops ${CMAKE_CURRENT_LIST_DIR}/check_ref_ops.c)
target_include_directories(check_ref_ops PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(check_ref_ops PRIVATE kiln_static)

if(Python3_Interpreter_FOUND)
  set(KILN_OP_CASES ${CMAKE_BINARY_DIR}/ops_cases)
  add_test(NAME ops.gen_cases
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/gen_cases.py ${KILN_OP_CASES})
  set_tests_properties(ops.gen_cases PROPERTIES LABELS ops FIXTURES_SETUP kiln_op_cases SKIP_RETURN_CODE 77)
  add_test(NAME ops.ref_kernels COMMAND check_ref_ops ${KILN_OP_CASES})
  set_tests_properties(ops.ref_kernels PROPERTIES LABELS ops FIXTURES_REQUIRED kiln_op_cases)
else()
  message(STATUS "kiln: python3 not found; the reference-kernel op tests (tests/ops) are not registered")
endif()
