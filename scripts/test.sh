#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite in one pytest process. This is the README's
# test command; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p artifacts
rc=0
# a crash (SIGSEGV...) in pytest or any Python process a test starts prints its Python stack
# setup.sh installed MLServer: the model-server tests must not skip quietly if it is missing
MODULESPACK_REQUIRE_MLSERVER=1 PYTHONFAULTHANDLER=1 .venv/bin/python -m pytest "$@" || rc=$?
# screenshots of the demo page taken by tests/serve/test_browser.py, for people reading the CI log
find artifacts -name '*.png' -printf 'artifact: %p\n' 2>/dev/null | sort || true
exit $rc
