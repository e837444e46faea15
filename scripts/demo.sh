#!/usr/bin/env bash
# Installs jupdb into .venv-X.Y for $PYTHON (default python3) and runs the demos:
# the programmatic debugger, the remote one, then the notebook (examples/demo.ipynb,
# executed on a real kernel; the copy with its outputs is left to open in JupyterLab).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
"$VENV/bin/python" examples/demo.py
"$VENV/bin/python" examples/remote_demo.py
out=$(mktemp -d "${TMPDIR:-/tmp}/jupdb-demo-XXXXXX")
"$VENV/bin/jupyter" nbconvert --to notebook --execute examples/demo.ipynb --output-dir "$out" --log-level WARN
echo
echo "examples/demo.ipynb ran; with its outputs: $out/demo.ipynb"
echo "open it with: $VENV/bin/jupyter lab $out/demo.ipynb"
