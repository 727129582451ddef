#!/usr/bin/env bash
# Build (or reuse) the virtual environment in which Isthmus is installed beside the ecosystem's
# clients (tests/clients/requirements.in: tritonclient[all], kserve), at the LOWEST protobuf and
# grpcio that pyproject.toml allows (its `protobuf>=` and `grpcio>=` floors, read from it here), so
# tests/integration/test_client_env.py runs the low end of the range; the project's .venv has the
# resolver's newest (protobuf 7.x), the high end.
#
#   tests/clients/build.sh VENV_DIR          # `make clients` builds .venv-clients
#
# Installs the project editable (`-e .`), so code changes need no rebuild; writes a stamp holding
# the hash of requirements.in and pyproject.toml and exits at once when it matches.
# Needs `uv` on PATH (the project's .venv/bin provides it).
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
venv=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

stamp=$venv/.isthmus-clients-stamp
want="clients $(cat "$here/requirements.in" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "build.sh: clients venv at $venv is up to date"
    exit 0
fi

started=$SECONDS
floors=$(mktemp)
trap 'rm -f "$floors"' EXIT
for pkg in protobuf grpcio; do
    floor=$(grep -oE "\"$pkg>=[0-9][0-9.]*" "$root/pyproject.toml" | cut -d= -f2)
    [ -n "$floor" ] || { echo "build.sh: no $pkg>= floor in pyproject.toml" >&2; exit 1; }
    echo "$pkg==$floor" >> "$floors"
done
if [ ! -x "$venv/bin/python" ]; then
    uv venv --quiet --python python3 "$venv"
fi
uv pip install --quiet --python "$venv/bin/python" -c "$floors" -e "$root" -r "$here/requirements.in"
# xds-protos ships an older copy of opentelemetry/proto/*: reinstall the real one last (as the Makefile does)
uv pip install --quiet --python "$venv/bin/python" -c "$floors" --reinstall-package opentelemetry-proto opentelemetry-proto
rm -f "$stamp"
printf '%s\n' "$want" > "$stamp"
echo "build.sh: built clients venv at $venv in $((SECONDS - started))s ($(tr '\n' ' ' < "$floors"))"
