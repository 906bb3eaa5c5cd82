#!/usr/bin/env bash
# expect.sh [--needs PATH]... CODE REGEX CMD [ARGS...]
# Run CMD; pass when its exit status is CODE and its output (stdout + stderr) matches the extended regex REGEX.
# --needs PATH: skip (exit 77, a ctest SKIP) with a message when PATH does not exist (e.g. the shared data).
set -u
while [ "${1:-}" = "--needs" ]; do
  if [ ! -e "$2" ]; then echo "SKIP: $2 not found (the shared data is absent)"; exit 77; fi
  shift 2
done
code=$1 regex=$2
shift 2
out=$("$@" 2>&1)
rc=$?
printf '$ %s\n%s\n(exit %d)\n' "$*" "$out" "$rc"
if [ "$rc" -ne "$code" ]; then echo "FAIL: exit status $rc, expected $code"; exit 1; fi
if ! printf '%s\n' "$out" | grep -Eq -- "$regex"; then echo "FAIL: output does not match /$regex/"; exit 1; fi
if [ "$rc" -ge 128 ]; then echo "FAIL: killed by a signal"; exit 1; fi
echo "PASS"
