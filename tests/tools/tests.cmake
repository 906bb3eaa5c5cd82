# kiln bench / compare / eval (label "tools"). A tiny tf_keras classifier and a copy with one layer perturbed are made
# once per build tree in ${CMAKE_BINARY_DIR}/tools_tmp (fixtures.py); the eval test also uses ../shared (the photos and
# the real trained MobileNetV2) and skips without it; the HTML test needs Debian's chromium. Missing Python packages or
# chromium -> exit 77 -> SKIPPED (scripts/install_deps.sh installs them). About 1 minute in all.
find_program(KILN_PYTHON3_TOOLS NAMES python3 python)
set(TOOLS_DIR ${CMAKE_CURRENT_LIST_DIR})
set(TOOLS_WORK ${CMAKE_BINARY_DIR}/tools_tmp)
set(TOOLS_ENV "KILN_SOURCE_DIR=${CMAKE_SOURCE_DIR};TF_CPP_MIN_LOG_LEVEL=3;KILN_LABELS=")

foreach(t bench compare html)
  add_test(NAME tools.${t} COMMAND ${KILN_PYTHON3_TOOLS} ${TOOLS_DIR}/${t}_check.py $<TARGET_FILE:kiln_cli> ${TOOLS_WORK})
endforeach()
add_test(NAME tools.eval COMMAND ${KILN_PYTHON3_TOOLS} ${TOOLS_DIR}/eval_check.py $<TARGET_FILE:kiln_cli> ${TOOLS_WORK}
  ${CMAKE_SOURCE_DIR}/../shared)
set_tests_properties(tools.bench tools.compare tools.html tools.eval PROPERTIES
  LABELS tools SKIP_RETURN_CODE 77 TIMEOUT 300 ENVIRONMENT "${TOOLS_ENV}")

# help texts and command-line mistakes (no Python needed)
function(kiln_tools_cli name code regex)
  add_test(NAME tools.${name} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/cli/expect.sh ${code} ${regex} ${ARGN})
  set_tests_properties(tools.${name} PROPERTIES LABELS tools ENVIRONMENT "${TOOLS_ENV}")
endfunction()
kiln_tools_cli(help_bench 0 "--exportProfile F" $<TARGET_FILE:kiln_cli> bench --help)
kiln_tools_cli(help_compare 0 "--check-error-stat S" $<TARGET_FILE:kiln_cli> compare --help)
kiln_tools_cli(help_eval 0 "--labels-csv FILE" $<TARGET_FILE:kiln_cli> help eval)
kiln_tools_cli(help_lists_tools 0 "bench .*trtexec" $<TARGET_FILE:kiln_cli> help)
kiln_tools_cli(bench_no_model 2 "missing MODEL_OR_ENGINE" $<TARGET_FILE:kiln_cli> bench)
kiln_tools_cli(bench_bad_percentile 2 "--percentile wants" $<TARGET_FILE:kiln_cli> bench m.h5 --percentile 90,x)
kiln_tools_cli(compare_bad_stat 2 "--check-error-stat is one of" $<TARGET_FILE:kiln_cli> compare a b --check-error-stat p50)
kiln_tools_cli(compare_no_b 2 "missing B" $<TARGET_FILE:kiln_cli> compare a.h5)
kiln_tools_cli(eval_no_dir 2 "missing DIR" $<TARGET_FILE:kiln_cli> eval m.h5)
