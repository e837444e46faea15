#!/usr/bin/env bash
# Checks that vendor/zeromq is exactly the zeromq crate as published on crates.io
# with the patch files in vendor/zeromq/patches applied in order (their reasons:
# each patch's message and vendor/zeromq/JUPDB-PATCH.md), and nothing else.
#
#   scripts/check-vendor.sh            # exit 0: the vendored tree matches
#
# The pristine crate comes from cargo's registry cache; when it is not there,
# cargo fetches it through a throwaway project.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.7.0
VENDORED=vendor/zeromq
# Published files the vendored tree leaves out (patch 6 drops them from the manifest).
LEFT_OUT=(tests/compliance tests/pub_sub_compliant.rs tests/pub_sub_compliant_reverse.rs
          tests/reconnection_compliant.rs tests/req_rep_compliant.rs tests/router_dealer_compliant.rs
          tests/xsub_compliant.rs tests/xsub_xpub.rs)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

find_pristine() {
  ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/zeromq-$VERSION 2>/dev/null | head -n 1
}
pristine=$(find_pristine || true)
if [ -z "$pristine" ]; then
  mkdir -p "$scratch/fetch/src"
  printf '[package]\nname = "fetch-zeromq"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nzeromq = "=%s"\n' \
    "$VERSION" > "$scratch/fetch/Cargo.toml"
  : > "$scratch/fetch/src/lib.rs"
  cargo fetch --quiet --manifest-path "$scratch/fetch/Cargo.toml"
  pristine=$(find_pristine)
fi

tree="$scratch/zeromq"
mkdir "$tree"
cp -r "$pristine"/{src,tests,Cargo.toml,LICENSE.md,README.md} "$tree"/
for path in "${LEFT_OUT[@]}"; do rm -rf "${tree:?}/$path"; done
for patch in "$VENDORED"/patches/*.patch; do
  (cd "$tree" && git apply -p1 --whitespace=nowarn "$OLDPWD/$patch") \
    || { echo "check-vendor: $patch does not apply to the pristine crate" >&2; exit 1; }
done
if ! diff -r --exclude=JUPDB-PATCH.md --exclude=patches --exclude=Cargo.lock --exclude=target "$tree" "$VENDORED"; then
  echo "check-vendor: $VENDORED differs from zeromq $VERSION + its patches (above: pristine+patches, then vendored)" >&2
  exit 1
fi
echo "check-vendor: $VENDORED is zeromq $VERSION + $(ls "$VENDORED"/patches/*.patch | wc -l) patches"
