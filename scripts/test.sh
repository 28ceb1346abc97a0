#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite. This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p artifacts
.venv/bin/python -m pytest "$@"
