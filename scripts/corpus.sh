#!/usr/bin/env bash
# Usage: scripts/corpus.sh   -> downloads pinned PyPI releases, keeps only their .py files in target/corpus/<name>-<version>/
# Output: second-to-last line "<N> .py files, <M> lines"; last line the corpus path.
# Cached: a stamp holding the spec list makes re-runs skip the download/extraction.
#
# Versions actually used (all requested versions exist on PyPI, checked with `pip index versions`):
#   django==5.1.4, sqlalchemy==2.1.9, fastapi==0.165.0, starlette==1.10.0, httpx==0.28.1,
#   aiohttp==3.14.5 (wheels; sqlalchemy/aiohttp as cp311 manylinux x86_64), cashews==7.6.0 (sdist)
set -euo pipefail

# Work from the repo root no matter where we are called from.
cd "$(dirname "${BASH_SOURCE[0]}")/.."

wheels=(django==5.1.4 sqlalchemy==2.1.9 fastapi==0.165.0 starlette==1.10.0 httpx==0.28.1 aiohttp==3.14.5)
sdists=(cashews==7.6.0)

dl=target/corpus-dl
out=target/corpus
stamp=$out/.stamp
spec_list=$(printf '%s\n' "${wheels[@]}" "${sdists[@]/#/sdist:}")

dir_of() { echo "$out/${1%%==*}-${1##*==}"; }

# Complete = stamp matches the spec list and every release directory exists.
complete() {
    [[ -f $stamp && "$(<"$stamp")" == "$spec_list" ]] || return 1
    local s
    for s in "${wheels[@]}" "${sdists[@]}"; do [[ -d $(dir_of "$s") ]] || return 1; done
}

# Pin the platform so the same (cp311 manylinux x86_64) wheels are picked on any host.
pip_wheel_opts=(--only-binary :all: --python-version 311 --implementation cp --abi cp311
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)

# $1 spec, $2 "wheel"|"sdist": download into $dl/<name>-<version>/ (once) and extract its .py files.
fetch_one() {
    local spec=$1 kind=$2 d a tmp f
    d=$(dir_of "$spec")
    a=$dl/${d##*/}
    mkdir -p "$a"
    f=$(find "$a" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tar.gz' \))
    if [[ -n $f ]]; then
        :   # already downloaded: skip pip (it would still query PyPI and build sdist metadata)
    elif [[ $kind == wheel ]]; then
        python3 -m pip download -q --disable-pip-version-check --no-deps "${pip_wheel_opts[@]}" -d "$a" "$spec"
    else
        python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$a" "$spec"
    fi
    # Exactly one archive per spec directory, otherwise something is stale: fail loudly.
    f=$(find "$a" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tar.gz' \))
    [[ $(wc -l <<<"$f") -eq 1 ]] || { echo "corpus.sh: expected one archive for $spec, got: $f" >&2; exit 1; }
    # Extract into a temp dir and rename at the end so a half-extracted release never looks complete.
    tmp=$d.tmp
    rm -rf "$tmp" "$d"
    mkdir -p "$tmp"
    if [[ $kind == wheel ]]; then
        unzip -q "$f" -d "$tmp"
    else
        tar -xzf "$f" -C "$tmp" --strip-components=1   # sdist has a <name>-<version>/ top dir
    fi
    # Only Python source matters; drop everything else, then the dirs left empty (e.g. *.dist-info).
    find "$tmp" ! -type d ! -name '*.py' -delete
    find "$tmp" -mindepth 1 -type d -empty -delete
    mv "$tmp" "$d"
}

if ! complete; then
    rm -f "$stamp"
    mkdir -p "$out" "$dl"
    for s in "${wheels[@]}"; do fetch_one "$s" wheel; done
    for s in "${sdists[@]}"; do fetch_one "$s" sdist; done
    printf '%s\n' "$spec_list" >"$stamp"
fi

# Summary over the pinned release dirs only (ignores anything else dropped into $out).
dirs=()
for s in "${wheels[@]}" "${sdists[@]}"; do dirs+=("$(dir_of "$s")"); done
files=$(find "${dirs[@]}" -type f -name '*.py' | wc -l)
lines=$(find "${dirs[@]}" -type f -name '*.py' -print0 | xargs -0 cat | wc -l)
echo "$files .py files, $lines lines"
echo "$PWD/$out"
