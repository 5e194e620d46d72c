#!/usr/bin/env bash
# Unpacks every repository of fixtures/real/repos.tsv at its pinned commit
# into DIR/<repo>/, from bare git mirrors (MIRRORS, default /work/.mirror,
# one folder per repository named owner+name, as the search tool's fetch
# leaves them). The checkouts stay outside this repository: they are other
# people's code, read to measure the tool, never committed.
set -euo pipefail
dir=${1:?usage: scripts/real-checkouts.sh DIR}
mirrors=${MIRRORS:-/work/.mirror}
repos="$(dirname "$0")/../fixtures/real/repos.tsv"
mkdir -p "$dir"
tail -n +2 "$repos" | while IFS=$'\t' read -r repo github commit _rest; do
    [ -d "$dir/$repo" ] && continue
    mirror="$mirrors/${github/\//+}"
    [ -d "$mirror/repo" ] && mirror="$mirror/repo"
    if [ ! -d "$mirror" ]; then
        echo "missing mirror for $github (fetch it first): $mirror" >&2
        continue
    fi
    mkdir -p "$dir/$repo"
    git -C "$mirror" archive "$commit" | tar x -C "$dir/$repo"
    echo "$repo: $github@${commit:0:12}"
done
