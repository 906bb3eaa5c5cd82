#!/bin/sh
# run_synthetic.sh PYTHON OUT_DIR TEST_BINARY: save the fixture models with Keras, then check kiln's import of them.
# Exit 77 (skipped) when no Keras is installed.
set -e
"$1" "$(dirname "$0")/make_fixtures.py" "$2"
exec "$3" "$2" "$2/expected.txt"
