#!/usr/bin/env bash
# Build (or reuse) the virtual environment of one peer model server.
#
#   tests/peers/build.sh PEER VENV_DIR        PEER: kserve | mlserver | ray
#
# Creates VENV_DIR with `uv venv` if it has no python, installs PEER's pinned
# requirements.txt with `uv pip install`, then writes a stamp holding the
# requirements' hash. Idempotent: exits at once when the stamp matches.
# Needs `uv` on PATH (the project's .venv/bin provides it).
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 PEER VENV_DIR" >&2
    exit 2
fi
peer=$1
venv=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
requirements=$here/$peer/requirements.txt
if [ ! -f "$requirements" ]; then
    echo "build.sh: unknown peer '$peer' (no $requirements)" >&2
    exit 2
fi

stamp=$venv/.isthmus-peer-stamp
want="$peer $(sha256sum "$requirements" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "build.sh: $peer venv at $venv is up to date"
    exit 0
fi

started=$SECONDS
if [ ! -x "$venv/bin/python" ]; then
    uv venv --quiet --python python3 "$venv"
fi
uv pip install --quiet --python "$venv/bin/python" -r "$requirements"
printf '%s\n' "$want" > "$stamp"
echo "build.sh: built $peer venv at $venv in $((SECONDS - started))s"
