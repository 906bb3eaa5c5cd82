# Keras end-to-end: tf-keras builds the corpus (the post's five architectures, keras.applications MobileNetV2 and
# ResNet50, reader-stress fixtures) with seeded random weights and randomized BN statistics, and records Keras's
# outputs; check.py runs each through `kiln build` (engine file) + `kiln run` (engine loaded back) and compares.
# The corpus is cached in ${CMAKE_BINARY_DIR}/keras_corpus (regenerated when make_models.py or TF/Keras change).
# Exit code 77 = tf_keras not importable (scripts/install_deps.sh installs it) -> ctest reports SKIPPED.
find_program(KILN_PYTHON3 NAMES python3 python)
set(KILN_KERAS_CORPUS ${CMAKE_BINARY_DIR}/keras_corpus)
if(KILN_PYTHON3)
  add_test(NAME keras.e2e
    COMMAND sh -c "\"$0\" \"$1/make_models.py\" \"$2\" && \"$0\" \"$1/check.py\" \"$2\" --kiln \"$3\""
            ${KILN_PYTHON3} ${CMAKE_CURRENT_LIST_DIR} ${KILN_KERAS_CORPUS} $<TARGET_FILE:kiln_cli>)
else()
  add_test(NAME keras.e2e COMMAND sh -c "echo 'keras.e2e: python3 not found; run scripts/install_deps.sh'; exit 77")
endif()
set_tests_properties(keras.e2e PROPERTIES
  LABELS "keras;e2e" SKIP_RETURN_CODE 77 TIMEOUT 1800
  ENVIRONMENT "KILN_SOURCE_DIR=${CMAKE_SOURCE_DIR};KILN_BUILD_DIR=${CMAKE_BINARY_DIR};TF_CPP_MIN_LOG_LEVEL=3")
