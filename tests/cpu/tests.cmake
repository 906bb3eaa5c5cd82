# CPU backend tests beyond tests/unit: the kernel test again with the ISA forced lower (KILN_ISA), and the NEON
# kernels cross-built for aarch64 and run under qemu (tests/cpu/neon_qemu.sh; skipped without the cross tools).
add_test(NAME cpu.kernels_avx2 COMMAND test_cpu_kernels)
set_tests_properties(cpu.kernels_avx2 PROPERTIES LABELS cpu ENVIRONMENT "KILN_ISA=avx2")
add_test(NAME cpu.kernels_scalar COMMAND test_cpu_kernels)
set_tests_properties(cpu.kernels_scalar PROPERTIES LABELS cpu ENVIRONMENT "KILN_ISA=scalar")
add_test(NAME cpu.neon_qemu COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cpu/neon_qemu.sh)
set_tests_properties(cpu.neon_qemu PROPERTIES LABELS cpu SKIP_RETURN_CODE 77
  ENVIRONMENT "KILN_SOURCE_DIR=${CMAKE_SOURCE_DIR};KILN_BUILD_DIR=${CMAKE_BINARY_DIR}")
