#!/usr/bin/env bash
# Usage: scripts/pyenv.sh            -> creates/reuses venv target/pyenv from scripts/requirements-test.txt
#        PY=$(scripts/pyenv.sh | tail -1)   # last stdout line is the venv's python
# Env: PYTHON=python3.11 to choose the base interpreter (default: python3).
# Safe to run concurrently: installs are serialised with flock on target/pyenv.lock.
set -euo pipefail

# Work from the repo root no matter where we are called from.
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=target/pyenv
req=scripts/requirements-test.txt
stamp=$venv/.requirements.stamp
py=$PWD/$venv/bin/python

# Fast path: stamp equals the requirement list and the interpreter is there -> nothing to do.
# (Pure bash comparison, no subprocess, so it costs milliseconds.)
if [[ -x $py && -f $stamp ]] && [[ "$(<"$stamp")" == "$(<"$req")" ]]; then
    echo "$py"
    exit 0
fi

# One installer at a time: parallel test binaries all call this script.
mkdir -p target
exec 9>target/pyenv.lock
flock 9
# Another run may have finished the install while we waited for the lock.
if [[ -x $py && -f $stamp ]] && [[ "$(<"$stamp")" == "$(<"$req")" ]]; then
    echo "$py"
    exit 0
fi

# Create the venv only if missing; an existing one is upgraded in place by pip.
if [[ ! -x $py ]]; then
    "${PYTHON:-python3}" -m venv "$venv" >&2
fi

# Remove stamp first so an interrupted install is redone next time.
rm -f "$stamp"
"$py" -m pip install -q --disable-pip-version-check -r "$req" >&2
cp "$req" "$stamp"

echo "$py"
