#!/usr/bin/env bash
# The README's test command: every test, on a fresh machine too. The tests
# that need Python, cashews, FastAPI or Redis install them themselves
# (scripts/pyenv.sh, scripts/redis.sh), so plain `cargo test` works as well.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked "$@"
