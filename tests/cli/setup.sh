#!/usr/bin/env bash
# setup.sh KILN SHARED_DIR WORK — files the CLI failure tests feed to kiln (fixture cli_files in tests.cmake).
# Always succeeds when it can write WORK; files that need the shared model are made only when it is present.
set -eu
kiln=$1 shared=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
printf 'just some text, not a model\n' > "$work/text_model.h5"
printf 'hello, not an image\n' > "$work/not_an_image.jpg"
printf '\xff\xd8\xff\xe0\x00\x10JFIF\x00garbage' > "$work/corrupt_header.jpg"
: > "$work/empty.png"
python3 -c "
import numpy as np
np.save('$work/x_100x100.npy', np.zeros((1, 100, 100, 3), np.float32))
np.save('$work/x_b2.npy', np.zeros((2, 224, 224, 3), np.float32))
np.save('$work/x_nobatch.npy', np.zeros((224, 224, 3), np.float32))
"
photo="$shared/data/images/huskies.jpg"
if [ -f "$photo" ]; then
  head -c $(( $(wc -c < "$photo") / 2 )) "$photo" > "$work/truncated.jpg"
fi
model="$shared/models/keras_real/tfk240_tm_water.h5"
if [ -f "$model" ]; then
  "$kiln" build "$model" -o "$work/tm_water.kiln" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
  head -c 4096 "$work/tm_water.kiln" > "$work/truncated.kiln"
fi
echo "cli test files in $work"
