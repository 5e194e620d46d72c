#!/usr/bin/env bash
# Usage: scripts/release-bin.sh -> builds the release binary for the tests that
# run it thousands of times (the corpus test, the wheel), in its own target
# folder so it never waits on the `cargo test` that called it.
# Output: last line the binary's path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=$PWD/target/release-tests
"${CARGO:-cargo}" build --release --locked --bin cashews-add >&2
echo "$CARGO_TARGET_DIR/release/cashews-add"
