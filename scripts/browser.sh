#!/usr/bin/env bash
# Prints the path of the Chromium that the browser test (tests/test_notebook_panel.py)
# drives through playwright; playwright's own browser download is not used.
#
#   export JUPDB_CHROMIUM=$(scripts/browser.sh)
#
# JUPDB_CHROMIUM, when set, must name an executable. Otherwise `chromium` on PATH
# (Debian's package: /usr/bin/chromium). None: as root with apt-get, Debian's
# `chromium` is installed (apt-get update first if the install fails); else it says
# what to install and fails.
set -euo pipefail

if [ -n "${JUPDB_CHROMIUM:-}" ]; then
  if [ -x "$JUPDB_CHROMIUM" ]; then
    echo "$JUPDB_CHROMIUM"
    exit 0
  fi
  echo "jupdb: JUPDB_CHROMIUM=$JUPDB_CHROMIUM is not an executable Chromium" >&2
  exit 1
fi

found() { command -v chromium 2>/dev/null; }

if found; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "jupdb: installing Debian's chromium for the browser test" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >&2 || { apt-get update -q >&2 && apt-get install -y -q chromium >&2; }
  if found; then
    exit 0
  fi
fi
echo "jupdb: no Chromium for the browser test: install Debian's package (sudo apt-get install chromium)," \
  "or set JUPDB_CHROMIUM to a Chromium executable" >&2
exit 1
