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

# Keras conformance, CI tier: one representative of every keras.applications family at a reduced input size plus the
# reader-stress fixtures, each written by tf_keras (.h5) and Keras 3 (.keras and legacy .h5), through kiln (engine
# save -> load) vs Keras's outputs. Corpus cached in ${KILN_CACHE_DIR:-~/.cache/kiln}/keras-apps-ci-<hash>.
# The full tier (every variant, default sizes, docs/CONFORMANCE.md) is `make conformance-full`.
if(KILN_PYTHON3)
  add_test(NAME keras.conformance
    COMMAND ${KILN_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/conformance.py --tier ci --kiln $<TARGET_FILE:kiln_cli>)
  set_tests_properties(keras.conformance PROPERTIES
    LABELS "keras;e2e;conformance" SKIP_RETURN_CODE 77 TIMEOUT 2400
    ENVIRONMENT "KILN_SOURCE_DIR=${CMAKE_SOURCE_DIR};TF_CPP_MIN_LOG_LEVEL=3")
  # Keras 2.0-2.3 / tf.keras 1.x file variants, rewritten from tf_keras files by old_keras.py.
  add_test(NAME keras.old_files
    COMMAND ${KILN_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/old_keras.py --kiln $<TARGET_FILE:kiln_cli>
            --out ${CMAKE_BINARY_DIR}/old_keras)
  set_tests_properties(keras.old_files PROPERTIES LABELS "keras;e2e" SKIP_RETURN_CODE 77 TIMEOUT 900
    ENVIRONMENT "KILN_SOURCE_DIR=${CMAKE_SOURCE_DIR};TF_CPP_MIN_LOG_LEVEL=3")
  # Real trained weights: the Coral MobileNetV2 TFLite model dequantized into keras.applications MobileNetV2.
  add_test(NAME keras.real_weights_tflite
    COMMAND ${KILN_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/tflite_mobilenet.py --kiln $<TARGET_FILE:kiln_cli>
            --shared ${CMAKE_SOURCE_DIR}/../shared --out ${CMAKE_BINARY_DIR}/tflite_mobilenet)
  set_tests_properties(keras.real_weights_tflite PROPERTIES LABELS "keras;e2e;real" SKIP_RETURN_CODE 77
    TIMEOUT 900 ENVIRONMENT "KILN_SOURCE_DIR=${CMAKE_SOURCE_DIR};TF_CPP_MIN_LOG_LEVEL=3")
endif()
# README.md's supported-layers table is generated from the importer's class table and ops.def: fail when stale.
if(KILN_PYTHON3)
  add_test(NAME docs.supported_layers
    COMMAND ${KILN_PYTHON3} ${CMAKE_SOURCE_DIR}/scripts/gen_supported_layers.py --check)
  set_tests_properties(docs.supported_layers PROPERTIES LABELS "docs")
endif()

# The .keras zip reader under damage (truncations, byte flips, bad offsets/sizes/CRCs, zip64, encryption, missing
# entries): accepted archives equal Keras, the rest are refused naming the file, never a crash. Label unit: `make asan`
# runs it with the sanitizer build's kiln.
if(KILN_PYTHON3)
  add_test(NAME keras.zip_damage
    COMMAND ${KILN_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/zip_damage.py --kiln $<TARGET_FILE:kiln_cli>
            --out ${CMAKE_BINARY_DIR}/zip_damage)
  set_tests_properties(keras.zip_damage PROPERTIES LABELS "keras;unit" SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "TF_CPP_MIN_LOG_LEVEL=3")
endif()
