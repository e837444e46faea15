#!/usr/bin/env bash
# Runs the whole pytest suite N times in a row (default 20) on one CPython,
# stopping at the first failure and saying which run failed. A flaky test
# shows up here long before it blocks a landing.
#
#   scripts/repeat-tests.sh                       # 20 runs with python3
#   PYTHON=python3.12 scripts/repeat-tests.sh 50  # 50 runs with 3.12
#   scripts/repeat-tests.sh 5 -k remote           # extra args go to pytest
#
# Builds jupdb once (as scripts/test.sh does); each run's output is kept in
# $REPEAT_LOGS (default: a new temporary directory) and the failing run's is
# printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
shift || true
case $runs in
  ''|*[!0-9]*) echo "usage: $0 [RUNS] [pytest args...]" >&2; exit 2 ;;
esac
source scripts/venv.sh
logs=${REPEAT_LOGS:-$(mktemp -d -t jupdb-repeat.XXXXXX)}
mkdir -p "$logs"
echo "$runs runs of the suite with $("$VENV/bin/python" --version); logs in $logs"
for run in $(seq 1 "$runs"); do
  log="$logs/run-$run.log"
  start=$SECONDS
  # -p no:randomly: the same order each run, so a failure can be replayed.
  if "$VENV/bin/python" -m pytest tests -q -p no:randomly -p no:cacheprovider "$@" >"$log" 2>&1; then
    echo "run $run/$runs passed ($((SECONDS - start)) s): $(tail -n 1 "$log")"
  else
    echo "run $run/$runs FAILED ($((SECONDS - start)) s); its output ($log):"
    tail -n 60 "$log"
    echo "FAILED: run $run of $runs" >&2
    exit 1
  fi
done
echo "all $runs runs passed"
