#!/usr/bin/env bash
# Usage: scripts/bench-lint.sh [RUNS] [lint|scan]   (default 9 lint)
# Times `cashews-add lint` against `ruff check --no-cache --select B019`, or
# `cashews-add scan` (every async def judged) against `ruff check --no-cache
# --select ALL`, on the pinned real-Python corpus (scripts/corpus.sh),
# interleaved, RUNS times each after one warm-up run each, and prints the
# minimum wall time and the peak memory of each and the ratio. A benchmark,
# not a test: numbers depend on the machine.
# ruff is pinned and installed into its own venv, target/bench-venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs=${1:-9}
mode=${2:-lint}
ruff_version=0.17.6
venv=target/bench-venv
ruff=$venv/bin/ruff

corpus=$(scripts/corpus.sh | tail -1)
if [[ ! -x $ruff ]] || [[ "$("$ruff" --version)" != "ruff $ruff_version" ]]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "ruff==$ruff_version" >&2
fi
cargo build --release --locked -q
bin=target/release/cashews-add

# Wall time of one run in microseconds; exit codes do not matter (both report findings).
micros() {
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    end=$(date +%s%N)
    echo $(((end - start) / 1000))
}

case $mode in
lint)
    ours=(lint "$corpus")
    theirs=(check --no-cache --select B019 "$corpus")
    ;;
scan)
    ours=(scan "$corpus")
    theirs=(check --no-cache --select ALL "$corpus")
    ;;
*)
    echo "usage: scripts/bench-lint.sh [RUNS] [lint|scan]" >&2
    exit 2
    ;;
esac
micros "$bin" "${ours[@]}" >/dev/null
micros "$ruff" "${theirs[@]}" >/dev/null
best_ours=
best_ruff=
for _ in $(seq "$runs"); do
    a=$(micros "$bin" "${ours[@]}")
    b=$(micros "$ruff" "${theirs[@]}")
    [[ -z $best_ours || $a -lt $best_ours ]] && best_ours=$a
    [[ -z $best_ruff || $b -lt $best_ruff ]] && best_ruff=$b
done

files=$(find "$corpus" -name '*.py' | wc -l)
lines=$(find "$corpus" -name '*.py' -print0 | xargs -0 cat | wc -l)
echo "corpus: $files .py files, $lines lines ($corpus)"
echo "machine: $(nproc) CPUs; min of $runs interleaved runs each"
# Peak resident memory in MB of one more run of each.
peak_mb() {
    /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.0f", $1 / 1024}'
}
printf 'cashews-add %-27s %8.1f ms  %5s MB\n' "${ours[0]}:" "$(echo "$best_ours / 1000" | bc -l)" "$(peak_mb "$bin" "${ours[@]}")"
printf 'ruff %s %-22s %8.1f ms  %5s MB\n' "$ruff_version" "${theirs[*]:0:4}:" "$(echo "$best_ruff / 1000" | bc -l)" "$(peak_mb "$ruff" "${theirs[@]}")"
printf 'ratio cashews-add / ruff:              %6.2f\n' "$(echo "$best_ours / $best_ruff" | bc -l)"
