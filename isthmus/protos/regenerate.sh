#!/usr/bin/env bash
# Regenerate the committed TF Serving stubs (isthmus/protos/tfserving/**/*_pb2*.py) from the
# .proto subsets beside them. Needs grpcio-tools (pip install grpcio-tools, or the test extra);
# users of Isthmus never run this: the generated modules are committed.
#
#   isthmus/protos/regenerate.sh [python]      # default: .venv/bin/python, else python3
#
# Two rewrites follow protoc (see isthmus/protos/README.md for why):
#   1. imports `tensorflow.*` / `tensorflow_serving.*` -> `isthmus.protos.tfserving.*`, so the
#      stubs never shadow or collide with a real tensorflow / tensorflow-serving-api install;
#   2. descriptors go into Isthmus's own descriptor pool (isthmus/protos/tfserving/_pool.py),
#      not protobuf's default one, where the real tensorflow registers the same names.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/tfserving"
py="${1:-}"
if [[ -z "$py" ]]; then
  if [[ -x "$here/../../.venv/bin/python" ]]; then py="$here/../../.venv/bin/python"; else py=python3; fi
fi
"$py" -c 'import grpc_tools' 2>/dev/null || { echo "grpcio-tools is not installed for $py (pip install grpcio-tools)" >&2; exit 1; }

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cd "$root"
mapfile -t protos < <(find tensorflow tensorflow_serving -name '*.proto' | sort)
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
