#!/usr/bin/env bash
# Runs the tool over the labelled real-world set and prints the agreement per
# label and every disagreement: scripts/measure-real.sh DIR [--only functions|lint|scan|writers] [--repo NAME]
# DIR holds the checkouts (scripts/real-checkouts.sh DIR makes them).
set -euo pipefail
dir=${1:?usage: scripts/measure-real.sh DIR [--only functions|lint|scan|writers] [--repo NAME]}
shift
cd "$(dirname "$0")/.."
cargo build --release --locked -q
exec python3 scripts/measure_real.py "$dir" target/release/cashews-add "$@"
