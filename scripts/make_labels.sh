#!/usr/bin/env bash
# make_labels.sh OUT — write the 1000 ImageNet-1k class labels in synset_words.txt format
#   n03218198 dogsled, dog sled, dog sleigh
# from Debian package data, so users never have to supply them:
#   - darknet:       /usr/share/darknet/data/imagenet.labels.list — its first 1000 lines are the ImageNet-1k wnids;
#                    sorted, they are the class order of Keras and PyTorch ImageNet models;
#   - wordnet-base:  /usr/share/wordnet/data.noun (WordNet 3.0) — wnid n<offset> names its synset; the synset's words,
#                    underscores as spaces, joined by ", ".
# Exit 1 with a reason if a package file is missing or the result does not check out.
set -euo pipefail

out=${1:?usage: make_labels.sh OUT}
list=${KILN_DARKNET_LABELS:-/usr/share/darknet/data/imagenet.labels.list}
noun=${KILN_WORDNET_NOUNS:-/usr/share/wordnet/data.noun}
for f in "$list" "$noun"; do
  if [ ! -r "$f" ]; then
    echo "make_labels: $f not found (install the Debian packages: apt-get install darknet wordnet-base)" >&2
    exit 1
  fi
done

mkdir -p "$(dirname "$out")"
tmp=$(mktemp "${out}.XXXXXX")
trap 'rm -f "$tmp"' EXIT

# data.noun lines: OFFSET LEX_FILENUM SS_TYPE W_CNT(hex) WORD LEX_ID(hex) [WORD LEX_ID]... then pointers and gloss.
head -n 1000 "$list" | LC_ALL=C sort | LC_ALL=C awk '
  function hex(s,   i, v) { v = 0; s = tolower(s); for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
  NR == FNR { order[++n] = $1; want[substr($1, 2)] = 1; next }
  /^[0-9]/ && ($1 in want) {
    cnt = hex($4); words = ""
    for (i = 0; i < cnt; i++) { w = $(5 + 2 * i); gsub(/_/, " ", w); words = words (i ? ", " : "") w }
    name[$1] = words
  }
  END {
    for (i = 1; i <= n; i++) {
      off = substr(order[i], 2)
      if (!(off in name)) { printf "make_labels: %s not found in WordNet\n", order[i] > "/dev/stderr"; bad = 1; continue }
      print order[i] " " name[off]
    }
    exit bad
  }' - "$noun" > "$tmp"

lines=$(wc -l < "$tmp")
uniq_ids=$(cut -d' ' -f1 "$tmp" | sort -u | wc -l)
line537=$(sed -n 538p "$tmp")
if [ "$lines" -ne 1000 ] || [ "$uniq_ids" -ne 1000 ] || [ "$line537" != "n03218198 dogsled, dog sled, dog sleigh" ]; then
  echo "make_labels: unexpected result ($lines lines, $uniq_ids distinct wnids, class 537 = '$line537')" >&2
  exit 1
fi
mv "$tmp" "$out"
trap - EXIT
echo "make_labels: wrote $out (1000 ImageNet classes from darknet + WordNet 3.0)"
