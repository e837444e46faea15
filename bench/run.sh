#!/usr/bin/env bash
# Run the jupdb benchmarks (calls.py, hits.py, import_time.py, remote.py, probes.py, output.py,
# panel.py, notebook.py) on one or more CPythons. bench/attach.py runs alone (it spans versions).
#
# usage: bench/run.sh [--dev] [python ...]
#
#   python ...  interpreters to use; default: every CPython 3.10+ that `pyenv versions` lists.
#   --dev       do not pip-install jupdb; use the working tree's python/ package with the
#               extension already built into it (`maturin develop` for that version).
#   JUPDB_SPEC  what to pip-install as jupdb (default: the repo root, built by pip/maturin;
#               e.g. a wheel from target/wheels/).
#
# Each interpreter gets its own venv in bench/.env-<X.Y> (gitignored) with nopdb==0.2.0,
# hunter (binary wheel), numpy, pyzmq and jupdb; results go to bench/.env-<X.Y>/results-*.json and a
# side-by-side table of all versions is printed at the end.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
SPEC=${JUPDB_SPEC:-$ROOT}
DEV=0
if [ "${1:-}" = "--dev" ]; then DEV=1; shift; fi

if [ $# -eq 0 ]; then
  command -v pyenv >/dev/null || { echo "no pyenv; pass interpreters: bench/run.sh python3.12 ..." >&2; exit 2; }
  PYENV_ROOT=$(pyenv root)
  for v in $(pyenv versions --bare); do
    [[ $v =~ ^3\.([0-9]+)\.[0-9]+$ ]] && (( BASH_REMATCH[1] >= 10 )) && set -- "$@" "$PYENV_ROOT/versions/$v/bin/python"
  done
fi

results=()
status=0
for py in "$@"; do
  ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  env="$HERE/.env-$ver"
  echo "=== CPython $ver ($py) -> $env"
  if [ ! -x "$env/bin/python" ]; then
    "$py" -m venv "$env"
    "$env/bin/pip" install -q --disable-pip-version-check nopdb==0.2.0 numpy pyzmq
    "$env/bin/pip" install -q --disable-pip-version-check --only-binary hunter hunter \
      || "$env/bin/pip" install -q --disable-pip-version-check hunter
  fi
  site=$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  if [ "$DEV" = 1 ]; then
    "$env/bin/pip" uninstall -q -y jupdb 2>/dev/null || true
    echo "$ROOT/python" > "$site/jupdb-dev.pth"
    "$env/bin/python" -c 'import jupdb._native' \
      || { echo "jupdb._native not built for $ver; run maturin develop with this version" >&2; exit 1; }
  else
    rm -f "$site/jupdb-dev.pth"
    "$env/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$SPEC"
  fi
  (cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null | sed 's/^/jupdb commit /') || true
  for script in calls import_time; do
    out="$env/results-$script.json"
    rm -f "$out"
    "$env/bin/python" "$HERE/$script.py" --json "$out" || { echo "$script.py on $ver: exit $?"; status=1; }
    [ -f "$out" ] && results+=("$out")
    echo
  done
  # per-hit costs: own table (not in the summary, whose columns are slowdown ratios)
  "$env/bin/python" "$HERE/hits.py" --json "$env/results-hits.json" || { echo "hits.py on $ver: exit $?"; status=1; }
  echo
  "$env/bin/python" -c 'import numpy, zmq' 2>/dev/null || "$env/bin/pip" install -q --disable-pip-version-check numpy pyzmq
  "$env/bin/python" "$HERE/remote.py" || { echo "remote.py on $ver: exit $?"; status=1; }
  "$env/bin/python" "$HERE/probes.py" || { echo "probes.py on $ver: exit $?"; status=1; }
  "$env/bin/python" "$HERE/output.py" || { echo "output.py on $ver: exit $?"; status=1; }
  "$env/bin/python" -c 'import anywidget' 2>/dev/null || "$env/bin/pip" install -q --disable-pip-version-check anywidget
  "$env/bin/python" "$HERE/panel.py" || { echo "panel.py on $ver: exit $?"; status=1; }
  "$env/bin/python" -c 'import ipykernel, jupyter_client' 2>/dev/null \
    || "$env/bin/pip" install -q --disable-pip-version-check ipykernel jupyter_client
  "$env/bin/python" "$HERE/notebook.py" || { echo "notebook.py on $ver: exit $?"; status=1; }
  echo
done

echo "=== summary (slowdown vs bare; import cost in ms)"
[ ${#results[@]} -gt 0 ] && "$env/bin/python" "$HERE/summary.py" "${results[@]}"
exit $status
