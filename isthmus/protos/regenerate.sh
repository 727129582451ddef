#!/usr/bin/env bash
# Regenerate the committed TF Serving stubs (isthmus/protos/tfserving/**/*_pb2*.py) from the
# .proto files beside them. The single source of truth for that code: users of Isthmus never run
# this (the generated modules are committed), and tests/tfserving_grpc/test_protos.py checks that
# the committed code is what this script writes.
#
#   isthmus/protos/regenerate.sh
#
# protoc comes from grpcio-tools pinned below, installed into a virtual environment of its own
# (never the project's): a throwaway one, or the one named by ISTHMUS_PROTOC_VENV (created when
# missing, reused when it already has the pinned version). Needs `uv` (on PATH or in .venv/bin)
# or, failing that, python3 with venv and pip.
#
# Why an old grpcio-tools: generated code records the protobuf version it was generated for and
# refuses, at import, a protobuf runtime older than that (google/protobuf/runtime_version.py);
# the gRPC stubs likewise refuse a grpcio older than grpcio-tools. grpcio-tools 1.81.1 writes
# protobuf 6.33.5 gencode, which loads on every protobuf from 6.33.5 up to 7.x (protobuf
# supports gencode of major version V on runtimes V and V+1) and needs grpcio >= 1.81.1: the
# same floors as tritonclient's own generated stubs, and what tritonclient[grpc] and kserve
# (protobuf < 7) allow. Raising this pin raises pyproject.toml's protobuf/grpcio floors too.
#
# Two rewrites follow protoc (see isthmus/protos/README.md for why):
#   1. imports `tensorflow.*` / `tensorflow_serving.*` -> `isthmus.protos.tfserving.*`, so the
#      stubs never shadow or collide with a real tensorflow / tensorflow-serving-api install;
#   2. descriptors go into Isthmus's own descriptor pool (isthmus/protos/tfserving/_pool.py),
#      not protobuf's default one, where the real tensorflow registers the same names.
set -euo pipefail
GRPCIO_TOOLS_VERSION=1.81.1

here="$(cd "$(dirname "$0")" && pwd)"
root="$here/tfserving"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

venv="${ISTHMUS_PROTOC_VENV:-$work/venv}"
py="$venv/bin/python"
have() { "$py" -c 'import importlib.metadata as m; print(m.version("grpcio-tools"))' 2>/dev/null; }
if [[ "$(have)" != "$GRPCIO_TOOLS_VERSION" ]]; then
  uv="$(command -v uv || true)"
  [[ -z "$uv" && -x "$here/../../.venv/bin/uv" ]] && uv="$here/../../.venv/bin/uv"
  if [[ -n "$uv" ]]; then
    [[ -x "$py" ]] || "$uv" venv --quiet --python python3 "$venv"
    "$uv" pip install --quiet --python "$py" "grpcio-tools==$GRPCIO_TOOLS_VERSION"
  else
    [[ -x "$py" ]] || python3 -m venv "$venv"
    "$py" -m pip install --quiet "grpcio-tools==$GRPCIO_TOOLS_VERSION"
  fi
  [[ "$(have)" == "$GRPCIO_TOOLS_VERSION" ]] || { echo "regenerate.sh: could not install grpcio-tools==$GRPCIO_TOOLS_VERSION into $venv" >&2; exit 1; }
fi

out="$work/out"
mkdir "$out"
cd "$root"
mapfile -t protos < <(find tensorflow tensorflow_serving -name '*.proto' | LC_ALL=C sort)
"$py" -m grpc_tools.protoc -I . --python_out="$out" --grpc_python_out="$out" "${protos[@]}"

"$py" - "$out" "$root" <<'PY'
import pathlib, re, sys

out, root = map(pathlib.Path, sys.argv[1:])
prefix = "isthmus.protos.tfserving."
for src in sorted(out.rglob("*.py")):
    rel = src.relative_to(out)
    text = src.read_text()
    if rel.name.endswith("_pb2_grpc.py") and "class " not in text:
        continue  # protoc's gRPC plugin writes a file for every .proto, even without a service
    text = re.sub(r"^from (tensorflow(?:_serving)?[.\w]*) import", rf"from {prefix}\1 import", text, flags=re.M)
    text = re.sub(r"'((?:tensorflow|tensorflow_serving)\.[\w.]+_pb2)'", rf"'{prefix}\1'", text)
    if "_descriptor_pool.Default().AddSerializedFile(" in text:
        text = text.replace("_descriptor_pool.Default().AddSerializedFile(", "_pool.POOL.AddSerializedFile(")
        text = text.replace(
            "# @@protoc_insertion_point(imports)",
            "# @@protoc_insertion_point(imports)\nfrom isthmus.protos.tfserving import _pool",
        )
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    print("wrote", dest.relative_to(root.parent.parent.parent))
PY
