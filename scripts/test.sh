#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite. This is the README's test command.
# Extra arguments go to pytest and run it once over them instead of the three groups below.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p artifacts
rc=0
if [ $# -gt 0 ]; then
  .venv/bin/python -m pytest "$@" || rc=$?
else
  # Three processes, not one: after the serve tests (uvicorn, process pools, chromium) a later
  # librosa/numba JIT call in the same process was seen to segfault; each group alone is clean.
  .venv/bin/python -m pytest tests/core tests/compat tests/io tests/cli tests/test_draw.py || rc=$?
  .venv/bin/python -m pytest tests/speech || rc=$?
  .venv/bin/python -m pytest tests/serve || rc=$?
fi
# screenshots of the demo page taken by tests/serve/test_browser.py, for people reading the CI log
find artifacts -name '*.png' -printf 'artifact: %p\n' 2>/dev/null | sort || true
exit $rc
