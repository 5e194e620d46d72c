#!/usr/bin/env bash
# Rewrite benchmark (see bench/rewrite.py): builds --release, sets up a venv with
# pinned peers (ruff, libcst) under target/bench-venv, prints a markdown table.
# Usage: scripts/bench-rewrite.sh   (BENCH_RUNS=20 for more rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
venv=target/bench-venv
if [ ! -x "$venv/bin/ruff" ] || [ ! -d "$venv/lib/python3.11/site-packages/libcst" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q ruff==0.17.6 libcst==1.9.0
fi
corpus=$(scripts/corpus.sh | tail -1)
exec "$venv/bin/python" bench/rewrite.py target/release/cashews-add "$venv/bin" "$corpus/sqlalchemy-2.1.9" "$corpus"
