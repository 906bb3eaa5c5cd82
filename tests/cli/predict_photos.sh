#!/usr/bin/env bash
# predict_photos.sh KILN MODEL LABELS IMAGE_DIR CLASSES
# Every photo in IMAGE_DIR goes through `kiln predict` without error: exit 0 and min(5, CLASSES) lines in the post's
# format per photo; then all of them in one call, which must print one '==> PHOTO <==' header per photo.
# Skips (exit 77) with a message when the shared data is absent.
set -u
kiln=$1 model=$2 labels=$3 dir=$4 classes=$5
for p in "$model" "$labels" "$dir"; do
  if [ ! -e "$p" ]; then echo "SKIP: $p not found (the shared data is absent)"; exit 77; fi
done
k=$(( classes < 5 ? classes : 5 ))
shopt -s nullglob nocaseglob
photos=("$dir"/*.jpg "$dir"/*.jpeg "$dir"/*.png "$dir"/*.bmp)
[ ${#photos[@]} -gt 0 ] || { echo "FAIL: no photos in $dir"; exit 1; }
fail=0
for photo in "${photos[@]}"; do
  out=$("$kiln" predict "$model" "$photo" --labels "$labels" 2>&1); rc=$?
  n=$(printf '%s\n' "$out" | grep -cE '^[ 0-9.-]{5}   .+$')
  lines=$(printf '%s\n' "$out" | wc -l)
  if [ $rc -ne 0 ] || [ "$n" -ne $k ] || [ "$lines" -ne $k ]; then
    echo "FAIL $photo: exit $rc, $n result lines of $lines (want $k)"; printf '%s\n' "$out"; fail=1
  else
    echo "ok   $(basename "$photo"): $(printf '%s' "$out" | head -1)"
  fi
done
out=$("$kiln" predict "$model" "${photos[@]}" --labels "$labels" 2>&1); rc=$?
headers=$(printf '%s\n' "$out" | grep -c '^==> .* <==$')
n=$(printf '%s\n' "$out" | grep -cE '^[ 0-9.-]{5}   .+$')
if [ $rc -ne 0 ] || [ "$headers" -ne ${#photos[@]} ] || [ "$n" -ne $(( k * ${#photos[@]} )) ]; then
  echo "FAIL all photos in one call: exit $rc, $headers headers, $n result lines"; printf '%s\n' "$out"; fail=1
else
  echo "ok   ${#photos[@]} photos in one call: $headers headers, $n result lines"
fi
exit $fail
