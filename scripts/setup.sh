#!/usr/bin/env bash
# Install system packages and a virtualenv (.venv) with modulespack and its extras. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
for pkg_cmd in flite:flite espeak-ng:espeak-ng graphviz:dot sox:sox chromium:chromium; do
  pkg=${pkg_cmd%%:*}; cmd=${pkg_cmd##*:}
  command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" libsndfile1
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip 'setuptools<81' wheel
.venv/bin/pip install -q -e ".[speech,serve,ray,remote,dev,train]"
# MLServer (a real model server for the remote-node tests) pins older fastapi/starlette/protobuf than
# ours: it gets a virtualenv of its own, and tests start it from there
[ -x .venv-mlserver/bin/mlserver ] || { "$PY" -m venv .venv-mlserver && .venv-mlserver/bin/pip install -q --upgrade pip \
  && .venv-mlserver/bin/pip install -q "mlserver==1.7.1" numpy; }
