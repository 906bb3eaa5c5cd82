# REAL Keras files from public repositories (../shared/models/keras_real, read at run time, never copied into the
# repo): Keras's own outputs vs kiln's, through the same checker as the corpus. Skips (77) without ../shared.
find_program(KILN_PYTHON3 NAMES python3 python)
if(KILN_PYTHON3)
  add_test(NAME real.keras_h5
    COMMAND sh -c "\"$0\" \"$1/real/make_real.py\" \"$2\" \"$3\" && \"$0\" \"$1/keras/check.py\" \"$3\" --kiln \"$4\""
            ${KILN_PYTHON3} ${CMAKE_SOURCE_DIR}/tests ${CMAKE_SOURCE_DIR}/../shared ${CMAKE_BINARY_DIR}/real_models
            $<TARGET_FILE:kiln_cli>)
  set_tests_properties(real.keras_h5 PROPERTIES LABELS "real;e2e" SKIP_RETURN_CODE 77 TIMEOUT 900
    ENVIRONMENT "KILN_SOURCE_DIR=${CMAKE_SOURCE_DIR};TF_CPP_MIN_LOG_LEVEL=3")
endif()

# The demo model (EfficientNet-Lite0, real trained weights) against its source framework: PyTorch running the original
# checkpoint, on every photo of ../shared/data/images (top-1 equal, top-5 overlap >= 4). Skips (77) without ../shared
# or PyTorch.
if(KILN_PYTHON3)
  add_test(NAME real.demo_vs_torch
    COMMAND ${KILN_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/real/demo_vs_torch.py --kiln $<TARGET_FILE:kiln_cli>
            --shared ${CMAKE_SOURCE_DIR}/../shared --out ${CMAKE_BINARY_DIR}/demo_vs_torch)
  set_tests_properties(real.demo_vs_torch PROPERTIES LABELS "real;e2e" SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "KILN_SOURCE_DIR=${CMAKE_SOURCE_DIR};TF_CPP_MIN_LOG_LEVEL=3")
endif()
