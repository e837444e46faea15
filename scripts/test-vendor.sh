#!/usr/bin/env bash
# The vendored zeromq crate: checks it is the published crate plus its patch files,
# then builds and runs the crate's own unit and integration tests (those that need
# libzmq are left out: see vendor/zeromq/JUPDB-PATCH.md). For CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/check-vendor.sh
# The crate is outside the workspace (its own lock file); it shares the build cache.
cargo test --quiet --locked --manifest-path vendor/zeromq/Cargo.toml --target-dir target "$@"
