#!/usr/bin/env bash
# Installs jupdb into .venv-X.Y for $PYTHON (default python3) and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
"$VENV/bin/python" examples/demo.py
