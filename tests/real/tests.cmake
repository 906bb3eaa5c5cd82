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
