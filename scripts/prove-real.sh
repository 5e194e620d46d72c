#!/usr/bin/env bash
# Proves --emit-test on one real project: copies SRC (a checkout folder,
# left untouched) to a scratch folder, runs `cashews-add --write --emit-test`
# on the TARGETs there, runs the generated tests and then the project's own
# suite (pytest SUITE_ARGS) with VENV's Python, then checks that a second run
# changes nothing and that deleted tests come back byte-identical.
# usage: scripts/prove-real.sh SRC VENV "SUITE_ARGS" TARGET...
set -uo pipefail
src=${1:?usage: scripts/prove-real.sh SRC VENV SUITE_ARGS TARGET...}
venv=${2:?}
suite=${3-}
shift 3
tool=${TOOL:-$(cd "$(dirname "$0")/.." && pwd)/target/release/cashews-add}
work=$(mktemp -d)
cp -r "$src" "$work/project"
cd "$work/project" || exit 2
run() { "$tool" "$@" --write --emit-test --format json; }
run "$@" > "$work/first.json"
files=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["results"]:
    t = r.get("test") or {}
    print(r["target"], r["status"], t.get("status"), t.get("message", "") if t.get("status") != "added" else "", file=sys.stderr)
    if t.get("status") == "added":
        print(t["file"])' "$work/first.json")
mkdir -p "$work/first"
for f in $files; do mkdir -p "$work/first/$(dirname "$f")"; cp "$f" "$work/first/$f"; done
echo "== generated tests"
"$venv/bin/python" -m pytest -q -p no:cacheprovider -rs $files 2>&1 | grep -E "passed|failed|^FAILED|^SKIPPED"
echo "== the project's suite: pytest $suite"
"$venv/bin/python" -m pytest -q -p no:cacheprovider $suite 2>&1 | grep -E "^[0-9]+ (passed|failed)|^FAILED"
run "$@" > "$work/second.json"
python3 -c 'import json, sys; print("second run changes nothing:", json.load(open(sys.argv[1]))["diff"] == "")' "$work/second.json"
rm -f $files
run "$@" > /dev/null
same=yes
for f in $files; do cmp -s "$f" "$work/first/$f" || { same=no; echo "differs: $f"; }; done
echo "deleted tests regenerated identical: $same"
rm -rf "$work"
