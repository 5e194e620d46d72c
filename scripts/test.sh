#!/usr/bin/env bash
# The README's test command: every test, on a fresh machine too. The tests
# that need Python, cashews, FastAPI or Redis install them themselves
# (scripts/pyenv.sh, scripts/redis.sh), so plain `cargo test` works as well.
#
# What those tests would fetch or build first (the venv, the pinned corpus,
# redis-server, the release binary) is made here beside the debug build:
# downloads wait on the network, not the CPU, and the release build fills
# the cores the debug build leaves idle (its long single-threaded rustc
# steps). The tests start once all of it is done; each script is idempotent,
# so the tests' own calls then return at once.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/prepare
pids=()
for step in pyenv corpus redis release-bin; do
    scripts/$step.sh >"target/prepare/$step.log" 2>&1 &
    pids+=("$!:$step")
done
cargo test --locked --no-run "$@"
for entry in "${pids[@]}"; do
    # A failed step is shown; the tests that need it then fail with its reason.
    wait "${entry%%:*}" || { echo "scripts/${entry#*:}.sh failed:" >&2; cat "target/prepare/${entry#*:}.log" >&2; }
done
# cargo-nextest (on this project's machines) runs the tests of every binary
# at once, the slowest first (.config/nextest.toml); plain cargo test runs
# one binary after the other. nextest does not run doctests: cargo does.
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked "$@"
    [[ $# -gt 0 ]] || cargo test --locked --doc
else
    cargo test --locked "$@"
fi
