#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite. This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p artifacts
rc=0
.venv/bin/python -m pytest "$@" || rc=$?
# screenshots of the demo page taken by tests/serve/test_browser.py, for people reading the CI log
find artifacts -name '*.png' -printf 'artifact: %p\n' 2>/dev/null | sort || true
exit $rc
