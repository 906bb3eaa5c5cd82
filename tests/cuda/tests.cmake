# CUDA backend kernels vs the CPU reference kernels (tests/cuda/test_cuda_kernels.c). The test is plain C: it reaches
# the GPU only through build/libkiln_cuda.so, loaded at run time ('make cuda' builds it). Without a GPU or without that
# library it prints one SKIP line and exits 77 (ctest: skipped). On the GPU machine: make cuda && build/test_cuda_kernels
add_executable(test_cuda_kernels ${CMAKE_CURRENT_LIST_DIR}/test_cuda_kernels.c)
target_include_directories(test_cuda_kernels PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests/unit)
target_link_libraries(test_cuda_kernels PRIVATE kiln_static)
set_target_properties(test_cuda_kernels PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME cuda.kernels COMMAND test_cuda_kernels)
set_tests_properties(cuda.kernels PROPERTIES LABELS cuda SKIP_RETURN_CODE 77
  ENVIRONMENT "KILN_SOURCE_DIR=${CMAKE_SOURCE_DIR};KILN_BUILD_DIR=${CMAKE_BINARY_DIR}")

# Mixed precision (FP16 engines keeping overflowing layers in FP32), the GPU timing cache and per-layer GPU times
# (tests/cuda/test_cuda_mixed.c); SKIPs (77) like cuda.kernels without a GPU.
add_executable(test_cuda_mixed ${CMAKE_CURRENT_LIST_DIR}/test_cuda_mixed.c)
target_include_directories(test_cuda_mixed PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests/unit)
target_link_libraries(test_cuda_mixed PRIVATE kiln_static)
set_target_properties(test_cuda_mixed PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME cuda.mixed COMMAND test_cuda_mixed)
set_tests_properties(cuda.mixed PROPERTIES LABELS cuda SKIP_RETURN_CODE 77
  ENVIRONMENT "KILN_SOURCE_DIR=${CMAKE_SOURCE_DIR};KILN_BUILD_DIR=${CMAKE_BINARY_DIR}")

# The kiln side of bench/gpu_vs_pytorch (run by bench/gpu_vs_pytorch/run.py on the GPU machine; not a test).
add_executable(kiln_gpu_bench ${CMAKE_SOURCE_DIR}/bench/gpu_vs_pytorch/kiln_gpu_bench.c)
target_include_directories(kiln_gpu_bench PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(kiln_gpu_bench PRIVATE kiln_static)
set_target_properties(kiln_gpu_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

# The CPU build carries no CUDA dependency: ldd of the kiln program and of libkiln.so names no CUDA library.
add_test(NAME cuda.cpu_build_has_no_cuda
  COMMAND sh -c "for f in \"$0\" \"$1\"; do if ldd \"$f\" | grep -iE 'cuda|cudnn|cublas'; then echo \"$f links CUDA\"; exit 1; fi; done; echo 'no CUDA library in ldd of kiln and libkiln.so'"
          $<TARGET_FILE:kiln_cli> $<TARGET_FILE:kiln_shared>)
set_tests_properties(cuda.cpu_build_has_no_cuda PROPERTIES LABELS cuda)
