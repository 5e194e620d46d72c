#!/usr/bin/env bash
# Where the setup goes on the labelled real-world set, against the `setup`
# column of fixtures/real/repos.tsv: scripts/measure-setup.sh DIR [--repo NAME]
# DIR holds the checkouts (scripts/real-checkouts.sh DIR makes them); each is
# copied to a temporary folder before the run, never written.
set -euo pipefail
dir=${1:?usage: scripts/measure-setup.sh DIR [--repo NAME]}
shift
dir=$(cd "$dir" && pwd)
cd "$(dirname "$0")/.."
cargo build --release --locked -q
exec python3 scripts/measure_setup.py "$dir" target/release/cashews-add "$@"
