# CLI tests (label "cli"): the kiln command's failure paths and exit codes, photos through `kiln predict`, kiln
# against Keras on a real trained model, and src/image against its NumPy/PIL reference.
# Tests that need ../shared (the photos and the real Keras model) skip with a message when it is absent.
set(KILN_CLI ${CMAKE_BINARY_DIR}/kiln)
set(CLI_DIR ${CMAKE_SOURCE_DIR}/tests/cli)
set(CLI_WORK ${CMAKE_BINARY_DIR}/cli_tmp)
set(SHARED ${CMAKE_SOURCE_DIR}/../shared)
set(TM_MODEL ${SHARED}/models/keras_real/tfk240_tm_water.h5)      # MobileNetV2 0.35 + 2-class head, 224x224x3
set(TM_LABELS ${SHARED}/models/keras_real/tfk240_tm_water.labels.txt)
set(EXPECT ${CLI_DIR}/expect.sh)

# kiln_cli_test(NAME [NEEDS path]... EXIT code MATCH regex COMMAND args...)
function(kiln_cli_test name)
  cmake_parse_arguments(T "" "EXIT;MATCH" "NEEDS;COMMAND" ${ARGN})
  set(needs)
  foreach(p ${T_NEEDS})
    list(APPEND needs --needs ${p})
  endforeach()
  add_test(NAME cli.${name} COMMAND bash ${EXPECT} ${needs} ${T_EXIT} ${T_MATCH} ${T_COMMAND})
  set_tests_properties(cli.${name} PROPERTIES LABELS cli SKIP_RETURN_CODE 77 FIXTURES_REQUIRED cli_files
    ENVIRONMENT "KILN_SOURCE_DIR=${CMAKE_SOURCE_DIR};KILN_LABELS=")
endfunction()

add_test(NAME cli.setup COMMAND bash ${CLI_DIR}/setup.sh ${KILN_CLI} ${SHARED} ${CLI_WORK})
set_tests_properties(cli.setup PROPERTIES LABELS cli FIXTURES_SETUP cli_files)

# help and usage errors
kiln_cli_test(help EXIT 0 MATCH "kiln predict .*huskies" COMMAND ${KILN_CLI} help)
kiln_cli_test(help_predict EXIT 0 MATCH "--preprocess MODE" COMMAND ${KILN_CLI} predict --help)
kiln_cli_test(help_build EXIT 0 MATCH "--disable-pass LIST" COMMAND ${KILN_CLI} help build)
kiln_cli_test(help_run EXIT 0 MATCH "--output \\[NAME=\\]FILE.npy" COMMAND ${KILN_CLI} run --help)
kiln_cli_test(help_inspect EXIT 0 MATCH "--json" COMMAND ${KILN_CLI} inspect --help)
kiln_cli_test(no_arguments EXIT 2 MATCH "usage: kiln COMMAND" COMMAND ${KILN_CLI})
kiln_cli_test(unknown_command EXIT 2 MATCH "unknown command 'frobnicate'" COMMAND ${KILN_CLI} frobnicate)
kiln_cli_test(unknown_flag EXIT 2 MATCH "unknown option '--bogus'" COMMAND ${KILN_CLI} predict m.h5 x.jpg --bogus)
kiln_cli_test(missing_value EXIT 2 MATCH "'--top' needs a value" COMMAND ${KILN_CLI} predict m.h5 x.jpg --top)
kiln_cli_test(bad_top EXIT 2 MATCH "--top wants a positive number" COMMAND ${KILN_CLI} predict m.h5 x.jpg --top 0)
kiln_cli_test(bad_preprocess EXIT 2 MATCH "--preprocess is one of" COMMAND ${KILN_CLI} predict m.h5 x.jpg --preprocess=keras)
kiln_cli_test(bad_batch EXIT 2 MATCH "--batch wants N or MIN:MAX" COMMAND ${KILN_CLI} build m.h5 -o e.kiln --batch 4:2)
kiln_cli_test(build_without_output EXIT 2 MATCH "missing -o ENGINE" COMMAND ${KILN_CLI} build m.h5)
kiln_cli_test(predict_without_image EXIT 2 MATCH "missing IMAGE" COMMAND ${KILN_CLI} predict m.h5)

# bad models
kiln_cli_test(missing_model EXIT 1 MATCH "^kiln: .*does_not_exist.h5" COMMAND ${KILN_CLI} predict ${CLI_WORK}/does_not_exist.h5 x.jpg)
kiln_cli_test(text_model EXIT 1 MATCH "^kiln: .*text_model.h5.*nrecognized format" COMMAND ${KILN_CLI} predict ${CLI_WORK}/text_model.h5 x.jpg)
kiln_cli_test(text_model_build EXIT 1 MATCH "^kiln: .*nrecognized format" COMMAND ${KILN_CLI} build ${CLI_WORK}/text_model.h5 -o ${CLI_WORK}/x.kiln)
kiln_cli_test(truncated_engine NEEDS ${TM_MODEL} EXIT 1 MATCH "^kiln: .*truncated" COMMAND ${KILN_CLI} inspect ${CLI_WORK}/truncated.kiln)

# bad images: exit 1, the message names the file
foreach(img not_an_image.jpg corrupt_header.jpg empty.png truncated.jpg does_not_exist.jpg)
  kiln_cli_test(bad_image_${img} NEEDS ${TM_MODEL} EXIT 1 MATCH "^kiln: .*${img}"
    COMMAND ${KILN_CLI} predict ${TM_MODEL} ${CLI_WORK}/${img} --labels ${TM_LABELS})
endforeach()
# one bad photo among good ones: the good ones are still classified, the exit status says something failed
kiln_cli_test(bad_image_among_good NEEDS ${TM_MODEL} EXIT 1 MATCH "==> .*huskies.jpg <==" COMMAND ${KILN_CLI} predict
  ${TM_MODEL} ${CLI_WORK}/not_an_image.jpg ${SHARED}/data/images/huskies.jpg --labels ${TM_LABELS})

# kiln run shape checks
kiln_cli_test(run_wrong_shape NEEDS ${TM_MODEL} EXIT 1 MATCH "wrong shape for input '.*' .*got \\[1,100,100,3\\], the model expects \\[N,224,224,3\\]"
  COMMAND ${KILN_CLI} run ${CLI_WORK}/tm_water.kiln --input ${CLI_WORK}/x_100x100.npy)
kiln_cli_test(run_wrong_batch NEEDS ${TM_MODEL} EXIT 1 MATCH "has batch 2 but the engine accepts batch 1..1"
  COMMAND ${KILN_CLI} run ${CLI_WORK}/tm_water.kiln --input ${CLI_WORK}/x_b2.npy)
kiln_cli_test(run_no_batch_dim NEEDS ${TM_MODEL} EXIT 1 MATCH "add the batch dimension"
  COMMAND ${KILN_CLI} run ${CLI_WORK}/tm_water.kiln --input ${CLI_WORK}/x_nobatch.npy)
kiln_cli_test(run_unknown_input NEEDS ${TM_MODEL} EXIT 1 MATCH "no input named 'nope'"
  COMMAND ${KILN_CLI} run ${CLI_WORK}/tm_water.kiln --input nope=${CLI_WORK}/x_b2.npy)
kiln_cli_test(run_model_batch2 NEEDS ${TM_MODEL} EXIT 0 MATCH "\\[2,2\\]  sample 0"
  COMMAND ${KILN_CLI} run ${TM_MODEL} --input ${CLI_WORK}/x_b2.npy)

# build, inspect, predict with the engine file
kiln_cli_test(build NEEDS ${TM_MODEL} EXIT 0 MATCH "layers +[0-9]+"
  COMMAND ${KILN_CLI} build ${TM_MODEL} -o ${CLI_WORK}/tm_water_b4.kiln --batch 1:4 --threads 2)
kiln_cli_test(inspect_json NEEDS ${TM_MODEL} EXIT 0 MATCH "\"Layers\""
  COMMAND ${KILN_CLI} inspect ${CLI_WORK}/tm_water.kiln --json)
kiln_cli_test(predict_engine NEEDS ${TM_MODEL} EXIT 0 MATCH "^ [01].[0-9][0-9]   [01] "
  COMMAND ${KILN_CLI} predict ${CLI_WORK}/tm_water.kiln ${SHARED}/data/images/huskies.jpg --labels ${TM_LABELS})
kiln_cli_test(predict_class_indices NEEDS ${TM_MODEL} EXIT 0 MATCH "printing class indices"
  COMMAND ${KILN_CLI} predict ${CLI_WORK}/tm_water.kiln ${SHARED}/data/images/huskies.jpg)

# every shared photo through kiln predict (2 classes -> 2 lines per photo)
add_test(NAME cli.predict_photos COMMAND bash ${CLI_DIR}/predict_photos.sh ${KILN_CLI} ${TM_MODEL} ${TM_LABELS}
  ${SHARED}/data/images 2)
set_tests_properties(cli.predict_photos PROPERTIES LABELS cli SKIP_RETURN_CODE 77)

# kiln predict / run against tf-keras on the same photos
add_test(NAME cli.predict_vs_keras COMMAND python3 ${CLI_DIR}/predict_vs_keras.py ${KILN_CLI} ${TM_MODEL} ${TM_LABELS}
  ${SHARED}/data/images ${CMAKE_BINARY_DIR}/cli_keras)
set_tests_properties(cli.predict_vs_keras PROPERTIES LABELS cli SKIP_RETURN_CODE 77 TIMEOUT 600)

# src/image against NumPy/PIL/scikit-image (the analytic part of test_image also runs alone as unit.test_image)
add_test(NAME cli.image_reference COMMAND bash -c
  "python3 '${CLI_DIR}/image_reference.py' '${CMAKE_BINARY_DIR}/image_ref' && '$<TARGET_FILE:test_image>' '${CMAKE_BINARY_DIR}/image_ref'")
set_tests_properties(cli.image_reference PROPERTIES LABELS cli)

# the label file `make labels` writes: 1000 lines, class 537 is the post's dogsled
add_test(NAME cli.make_labels COMMAND bash -c
  "if [ ! -r /usr/share/darknet/data/imagenet.labels.list ] || [ ! -r /usr/share/wordnet/data.noun ]; then echo 'SKIP: Debian packages darknet/wordnet-base not installed'; exit 77; fi; bash '${CMAKE_SOURCE_DIR}/scripts/make_labels.sh' '${CMAKE_BINARY_DIR}/cli_labels/synset_words.txt' && [ \"$(sed -n 538p '${CMAKE_BINARY_DIR}/cli_labels/synset_words.txt')\" = 'n03218198 dogsled, dog sled, dog sleigh' ] && [ \"$(sed -n 1p '${CMAKE_BINARY_DIR}/cli_labels/synset_words.txt')\" = 'n01440764 tench, Tinca tinca' ]")
set_tests_properties(cli.make_labels PROPERTIES LABELS cli SKIP_RETURN_CODE 77)
