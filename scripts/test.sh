#!/usr/bin/env bash
# Installs jupdb and its test dependencies into .venv-X.Y for one CPython, then
# runs the whole test suite: cargo's tests, then pytest.
#
#   scripts/test.sh                 # with python3
#   PYTHON=python3.12 scripts/test.sh [pytest args...]
#
# Needs only Rust (cargo) and CPython; everything else comes from crates.io and PyPI,
# but the browser test's Chromium: Debian's package (scripts/browser.sh).
# The Rust build cache (target/) is shared by every CPython version.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

# The browser test drives Debian's chromium (found, or installed as root, by browser.sh).
JUPDB_CHROMIUM=$(scripts/browser.sh)
export JUPDB_CHROMIUM

cargo test -p jupdb-protocol --quiet --locked
cargo test -p jupdb-native --lib --quiet --locked  # links the python3 on PATH; builds once for every version
"$VENV/bin/python" -m pytest tests -q "$@"
