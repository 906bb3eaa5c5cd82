# Optimizer + memory planner on the Keras corpus (tests/opt/opt_corpus.c): every model's outputs with all passes,
# with --no-fusion and with each pass alone disabled agree within 1e-5; the arena stays within 1.1x of its lower
# bound; googlenet_bn / mobilenet_v2 / efficientnet_b0 show the fusions the issue lists. Reuses the Keras corpus
# cache of keras.e2e (make_models.py regenerates nothing when it is current). Exit 77 = tf_keras missing -> SKIPPED.
add_executable(opt_corpus ${CMAKE_CURRENT_LIST_DIR}/opt_corpus.c)
target_include_directories(opt_corpus PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(opt_corpus PRIVATE kiln_static m)
find_program(KILN_OPT_PYTHON3 NAMES python3 python)
set(KILN_OPT_MODELS googlenet_bn inception_v2 mobilenet_v2 efficientnet_b0 osnet keras_mobilenet_v2 keras_resnet50
    shared_layer nested_models sequential relu_variants activations padding_pooling conv_variants dense_nd
    bn_variants merges optimizer_weights)
if(KILN_OPT_PYTHON3)
  add_test(NAME opt.corpus
    COMMAND sh -c "\"$0\" \"$1/../keras/make_models.py\" \"$2\" >/dev/null && shift 2 && \"$@\""
            ${KILN_OPT_PYTHON3} ${CMAKE_CURRENT_LIST_DIR} ${CMAKE_BINARY_DIR}/keras_corpus
            $<TARGET_FILE:opt_corpus> ${CMAKE_BINARY_DIR}/keras_corpus ${KILN_OPT_MODELS})
  set_tests_properties(opt.corpus PROPERTIES LABELS "opt;keras" SKIP_RETURN_CODE 77 TIMEOUT 1200
    RESOURCE_LOCK keras_corpus DEPENDS keras.e2e
    ENVIRONMENT "TF_CPP_MIN_LOG_LEVEL=3")
endif()
