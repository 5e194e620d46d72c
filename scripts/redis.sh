#!/usr/bin/env bash
# Usage: scripts/redis.sh   -> makes sure a redis-server binary is on PATH (installs the Debian package as root).
# It never starts a server: tests launch their own redis-server on loopback.
# Exit 1 (with a message) if redis-server is missing and we cannot install it.
set -euo pipefail

# Already available: nothing to do (keeps repeated runs instant).
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi

# One installer at a time (parallel test binaries call this); re-check after waiting.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p target
exec 9>target/redis.lock
flock 9
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "redis.sh: redis-server not found and not root; install it, e.g. 'sudo apt-get install redis-server'" >&2
    exit 1
fi

# Noninteractive + policy-rc.d "exit 101" so apt neither prompts nor starts the redis service.
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
created_policy=0
# apt/debconf chatter goes to a log that is only shown if something fails.
log=$(mktemp)
cleanup() { rm -f "$log"; if [[ $created_policy -eq 1 ]]; then rm -f "$policy"; fi; }
trap cleanup EXIT
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
fi

if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "redis.sh: apt-get failed" >&2
    exit 1
fi

command -v redis-server >/dev/null || { echo "redis.sh: redis-server still not on PATH after install" >&2; exit 1; }
