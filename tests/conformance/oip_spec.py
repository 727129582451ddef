"""The Open Inference Protocol REST OpenAPI document (vendored, see SOURCE.md) as the tests read it.

Two adaptations are made in memory, never to the vendored file:

- Its path templates are written ``/v2/models/${MODEL_NAME}/...``, the shell-style placeholder
  notation of the protocol's prose (inference_rest.md). Read as OpenAPI, the ``$`` would be a
  literal character of the URL, which no server of the protocol (KServe, Triton, MLServer) has:
  ``${X}`` is read as the template ``{X}``.
- It only lists the versioned model paths, while the prose makes ``/versions/${MODEL_VERSION}``
  optional ("If a version is not provided the server may choose a version"): each versioned
  operation gets an unversioned twin with the same request and answers.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

SPEC_PATH = Path(__file__).with_name("open_inference_rest.yaml")
VERSIONED = "/versions/{MODEL_VERSION}"

# operation (method, path as the tests use it) -> schema of its 200 answer (None: any body)
OK_SCHEMAS: dict[tuple[str, str], str | None] = {
    ("GET", "/v2/health/live"): None,
    ("GET", "/v2/health/ready"): None,
    ("GET", "/v2/"): "metadata_server_response",
    ("GET", "/v2/models/{MODEL_NAME}/versions/{MODEL_VERSION}/ready"): None,
    ("GET", "/v2/models/{MODEL_NAME}/versions/{MODEL_VERSION}"): "metadata_model_response",
    ("POST", "/v2/models/{MODEL_NAME}/versions/{MODEL_VERSION}/infer"): "inference_response",
}
OK_SCHEMAS |= {(m, p.replace(VERSIONED, "")): s for (m, p), s in OK_SCHEMAS.items() if VERSIONED in p}

# every error object of the document is {"error": string}; the tests also require the field
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string", "minLength": 1}},
    "required": ["error"],
}


@functools.cache
def raw_document() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def conformance_document() -> dict[str, Any]:
    """The document with ``${X}`` read as ``{X}`` and an unversioned twin of each versioned path."""
    doc = copy.deepcopy(raw_document())
    paths = {path.replace("${", "{"): item for path, item in doc["paths"].items()}
    for path, item in list(paths.items()):
        if VERSIONED in path:
            twin = copy.deepcopy(item)
            twin["parameters"] = [p for p in twin.get("parameters", []) if p["name"] != "MODEL_VERSION"]
            for op in twin.values():
                if isinstance(op, dict) and "operationId" in op:
                    op["operationId"] += "-unversioned"
            paths[path.replace(VERSIONED, "")] = twin
    doc["paths"] = paths
    return doc


def schemathesis_schema() -> Any:
    import schemathesis

    return schemathesis.openapi.from_dict(conformance_document())


@functools.cache
def component_validator(name: str) -> Draft202012Validator:
    """A validator for ``#/components/schemas/<name>`` (OpenAPI 3.0 schemas are JSON Schema here:
    the document uses no ``nullable``, ``discriminator`` or other OpenAPI-only keyword)."""
    root = {"$ref": f"#/components/schemas/{name}", "components": raw_document()["components"]}
    return Draft202012Validator(root)


def schema_errors(name: str, instance: Any) -> list[str]:
    """Every way ``instance`` breaks component ``name``, as ``path: message`` lines."""
    validator = component_validator(name)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(instance)]


def error_object_errors(instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in Draft202012Validator(ERROR_SCHEMA).iter_errors(instance)]
