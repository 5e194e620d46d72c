#!/usr/bin/env bash
# Big and pathological inputs (issue 17, item 5): runs of comment lines
# (10k, 100k, 400k) and large modules (5 MB, 15 MB, 50 MB of real code), with
# wall time and peak memory (GNU time), side by side with ruff on the same
# file in the same run. The tool's cap is 16 MB: the 50 MB file is refused
# in constant time with a message that says so, never read whole.
# Usage: scripts/bench-big.sh   (needs /usr/bin/time; builds --release)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
cargo build --release --locked -q --example parse_only
tool=$PWD/target/release/cashews-add
# tree-sitter's parse of the same file and nothing else: the memory floor.
parse_only=$PWD/target/release/examples/parse_only
venv=target/bench-venv
if [[ ! -x $venv/bin/ruff ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q ruff==0.17.6 libcst==1.9.0
fi
ruff=$PWD/$venv/bin/ruff
corpus=$(scripts/corpus.sh | tail -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '[project]\nname = "big"\nversion = "0.1.0"\n' > "$work/pyproject.toml"
target='

async def get_user(user_id: int):
    return {"id": user_id}
'
comments() { python3 -c "import sys; sys.stdout.write('#\n' * int(sys.argv[1]))" "$1"; printf '%s' "$target"; }
code_of_size() {
    # Real code (SQLAlchemy's files, repeated) up to $1 bytes, the target last.
    find "$corpus/sqlalchemy-2.1.9" -name '*.py' | sort | xargs cat | python3 -c "
import sys
data = sys.stdin.read()
want = int(sys.argv[1])
out = (data * (want // len(data) + 1))[:want]
out = out[: out.rfind('\n') + 1]
sys.stdout.write(out)" "$1"
    printf '%s' "$target"
}
measure() { # label file
    local f=$1 size
    size=$(stat -c %s "$f")
    local t r
    t=$( { /usr/bin/time -f '%e %M' "$tool" --no-setup "$f::get_user" >/dev/null 2>"$work/err" || true; } 2>&1; tail -n 1 "$work/err")
    r=$( { /usr/bin/time -f '%e %M' "$ruff" check --no-cache --select B019 "$f" >/dev/null 2>"$work/rerr" || true; } 2>&1; tail -n 1 "$work/rerr")
    p=$( { /usr/bin/time -f '%e %M' "$parse_only" "$f" >/dev/null 2>"$work/perr" || true; } 2>&1; tail -n 1 "$work/perr")
    read -r ts tm <<<"$t"
    read -r rs rm <<<"$r"
    read -r ps pm <<<"$p"
    printf '| %s | %s | %s s | %s MB | %s s | %s MB | %s MB |\n' "$2" "$((size / 1024)) KB" "$ts" "$((tm / 1024))" "$rs" "$((rm / 1024))" "$((pm / 1024))"
}
echo '| input | size | cashews-add | peak | ruff 0.17.6 B019 | peak | tree-sitter parse alone: peak |'
echo '| --- | --- | --- | --- | --- | --- | --- |'
for n in 10000 100000 400000; do
    comments "$n" > "$work/c$n.py"
    measure "$work/c$n.py" "$n comment lines"
done
for mb in 5 15 50; do
    code_of_size $((mb * 1024 * 1024)) > "$work/m$mb.py"
    measure "$work/m$mb.py" "$mb MB of code"
done
echo
echo "last message for the 50 MB file: $("$tool" --no-setup "$work/m50.py::get_user" 2>&1 | tail -n 1)"
