# Keras importer on small models that tf.keras 2 and Keras 3 save at test time (nested + shared models, every layer
# kind): make_fixtures.py writes them with their Keras/h5py expectations, then test_keras_import checks kiln's
# import against those. Skipped (exit 77) when neither tf_keras nor keras is installed.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME keras_import.synthetic
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/keras_import/run_synthetic.sh ${Python3_EXECUTABLE}
            ${CMAKE_BINARY_DIR}/keras_import_fixtures $<TARGET_FILE:test_keras_import>)
  set_tests_properties(keras_import.synthetic PROPERTIES SKIP_RETURN_CODE 77 LABELS keras TIMEOUT 600
    ENVIRONMENT "KILN_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endif()

# Expectations about the real files under ../shared are computed at test time (they describe data that stays out of
# the repository); test_keras_import skips the real-file part when they could not be made.
if(Python3_Interpreter_FOUND)
  add_test(NAME keras_import.expected_real
    COMMAND sh -c "d=\"$0/../shared/models/keras_real\"; if [ ! -d \"$d\" ]; then echo \"SKIP: $d absent\"; exit 0; fi; \"$1\" \"$0/tests/keras_import/make_expected.py\" \"$d\" > \"$2.tmp\" && mv \"$2.tmp\" \"$2\""
            ${CMAKE_SOURCE_DIR} ${Python3_EXECUTABLE} ${CMAKE_BINARY_DIR}/keras_import_expected_real.txt)
  set_tests_properties(keras_import.expected_real PROPERTIES FIXTURES_SETUP keras_expected LABELS unit TIMEOUT 300)
  set_tests_properties(unit.test_keras_import PROPERTIES FIXTURES_REQUIRED keras_expected)
endif()
