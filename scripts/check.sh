#!/usr/bin/env bash
# The checks CI makes besides the test suite (.ci/run calls this once):
#   fmt       cargo fmt --check
#   clippy    cargo clippy -D warnings, built against CPython 3.11 and 3.13, so
#             that both engines (legacy.rs, monitoring.rs) are checked
#   ruff      ruff check, ruff format --check (configured in pyproject.toml)
#   mypy      mypy on python/jupdb (pyproject.toml), for 3.10 and 3.13
#   stubtest  _native.pyi against the built extension, on 3.11 and 3.13
#   fuzz      the protocol decoder's fuzz target, for FUZZ_SECONDS (default 60)
#
#   scripts/check.sh                  # every check
#   scripts/check.sh ruff mypy        # only these
#
# Needs only Rust (rustup, cargo) and CPython 3.11 and 3.13 (the newest of each
# that pyenv has, or PYTHON311 / PYTHON313); installs the rest itself: rustup's
# rustfmt and clippy, cargo-fuzz, and the Python tools pinned in
# requirements-check.txt (into .venv-check, and for stubtest into the .venv-3.X
# that scripts/venv.sh builds jupdb into).
# Any failure fails the run, and a summary says how long each check took.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "check.sh: $*" >&2
  exit 1
}

python_for() { # python_for 3.11: that CPython's interpreter
  local var="PYTHON${1/./}"
  if [ -n "${!var:-}" ]; then
    echo "${!var}"
    return
  fi
  command -v pyenv >/dev/null || fail "no CPython $1: set $var, or install it with pyenv"
  local version
  version=$(pyenv versions --bare | grep -E "^${1/./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
  [ -n "$version" ] || fail "pyenv has no CPython $1: install it, or set $var"
  echo "$(pyenv root)/versions/$version/bin/python"
}

need_cargo() { # need_cargo SUBCOMMAND rustup-component
  cargo "$1" --version >/dev/null 2>&1 && return
  command -v rustup >/dev/null || fail "cargo $1 is missing, and there is no rustup to add $2"
  rustup component add "$2"
  cargo "$1" --version >/dev/null 2>&1 || fail "cargo $1 is still missing after adding $2"
}

tools() { # the pinned Python tools, in .venv-check (made once); sets TOOLS
  if [ -z "${TOOLS:-}" ]; then
    local python
    python=$(python_for 3.13)
    [ -x .venv-check/bin/python ] || "$python" -m venv .venv-check
    .venv-check/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-check.txt
    TOOLS=$PWD/.venv-check/bin
  fi
}

declare -A venvs=()
venv_for() { # venv_for 3.13: builds jupdb into .venv-3.13 with the check tools (once); sets VENV
  if [ -z "${venvs[$1]:-}" ]; then
    PYTHON=$(python_for "$1")
    source scripts/venv.sh
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-check.txt
    venvs[$1]=$VENV
  fi
  VENV=${venvs[$1]}
}

check_fmt() {
  need_cargo fmt rustfmt
  cargo fmt --all --check
  cargo fmt --manifest-path crates/jupdb-protocol/fuzz/Cargo.toml --check # out of the workspace
}

check_clippy() {
  need_cargo clippy clippy
  local v python
  for v in 3.11 3.13; do
    echo "--- clippy, against CPython $v"
    python=$(python_for "$v") # apart, so that a missing CPython stops the run
    PYO3_PYTHON=$python cargo clippy --workspace --all-targets --locked -- -D warnings
  done
}

check_ruff() {
  tools
  "$TOOLS/ruff" check
  "$TOOLS/ruff" format --check
}

check_mypy() {
  tools
  "$TOOLS/mypy"
  "$TOOLS/mypy" --python-version 3.13
}

check_stubtest() {
  local v
  for v in 3.13 3.11; do # 3.13 first: CI's test run built it last
    echo "--- stubtest, on CPython $v"
    venv_for "$v"
    local allow=(--allowlist .ci/stubtest-allowlist.txt)
    if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
      allow+=(--allowlist .ci/stubtest-allowlist-before-3.12.txt)
    fi
    "$VENV/bin/python" -m mypy.stubtest jupdb._native --mypy-config-file pyproject.toml "${allow[@]}"
  done
}

check_fuzz() {
  # cargo-fuzz needs nightly features (sanitizer flags); RUSTC_BOOTSTRAP=1 lets
  # the stable toolchain use them, so CI needs no second toolchain.
  if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
  fi
  local seconds=${FUZZ_SECONDS:-60}
  (
    cd crates/jupdb-protocol
    export RUSTC_BOOTSTRAP=1
    # cargo fuzz has no --locked: fetching with it first fails on a stale Cargo.lock
    # (the fuzz crate has its own, being out of the workspace).
    cargo fetch --locked --manifest-path fuzz/Cargo.toml ||
      fail "fuzz/Cargo.lock is stale: update it with cargo fetch --manifest-path crates/jupdb-protocol/fuzz/Cargo.toml"
    cargo fuzz build decode
    # A crash, a panic, a leak or an input that takes over 10 s (-timeout) fails the
    # run, leaving the input in fuzz/artifacts/decode/ to reproduce it with
    # `cargo fuzz run decode fuzz/artifacts/decode/<file>`.
    cargo fuzz run decode -- -max_total_time="$seconds" -timeout=10
  )
}

all=(fmt clippy ruff mypy stubtest fuzz)
chosen=("$@")
[ "${#chosen[@]}" -gt 0 ] || chosen=("${all[@]}")
for name in "${chosen[@]}"; do
  declare -F "check_$name" >/dev/null || fail "no check named $name (there are: ${all[*]})"
done

# Each check runs under `set -e` (never as `check || ...`, which would switch it
# off inside the function); the trap names the one that failed.
current=""
trap '[ -z "$current" ] || echo "check.sh: check $current FAILED" >&2' EXIT
summary=()
for name in "${chosen[@]}"; do
  echo "=== check: $name ==="
  current=$name
  start=$SECONDS
  "check_$name"
  summary+=("$(printf '%-9s ok  %4ds' "$name" $((SECONDS - start)))")
  echo "--- $name: ok in $((SECONDS - start)) s"
done
current=""
printf '%s\n' "=== checks passed ===" "${summary[@]}"
