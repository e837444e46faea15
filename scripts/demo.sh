#!/usr/bin/env bash
# Installs jupdb into .venv-X.Y for $PYTHON (default python3) and runs the demos:
# the programmatic debugger, then the remote one.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
"$VENV/bin/python" examples/demo.py
"$VENV/bin/python" examples/remote_demo.py
