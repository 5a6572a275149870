#!/usr/bin/env bash
# Sourced by the other tools: creates the virtualenv (VENV, default .venv)
# with this project installed in it with every extra of setup.cfg (the
# controller's, the API's, the simulator's and the command line's
# dependencies, and python-watcher for the simulator) at the pinned
# versions, plus the requirements file named by EXTRA_REQUIREMENTS if set.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -c "$ROOT/constraints.txt" \
    ${EXTRA_REQUIREMENTS:+-r "$EXTRA_REQUIREMENTS"} \
    -e "${ROOT}[controller,api,simulator,cli,watcher]"
