#!/bin/sh
# Extract the example between "EXAMPLE BEGIN" and "EXAMPLE END" in include/kiln.h into a .c file; fail when empty.
set -e
in="$1"; out="$2"
sed -n '/EXAMPLE BEGIN/,/EXAMPLE END/p' "$in" | sed '1d;$d' > "$out.tmp"
if ! grep -q 'kiln_context_run' "$out.tmp"; then
  echo "extract_example: no example found in $in" >&2
  rm -f "$out.tmp"; exit 1
fi
mv "$out.tmp" "$out"
