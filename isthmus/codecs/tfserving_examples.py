"""TF Serving's Classify and Regress: ``tf.Example`` inputs and their results, as JSON and as protos.

Pure functions, no I/O. The REST form follows TF Serving's REST API (``:classify`` / ``:regress``:
``{"signature_name", "context", "examples": [{feature: value | [values]}]}`` -> ``{"results": ...}``)
and its JSON rules (tensorflow_serving/util/json_tensor.cc): a whole number is an ``int64_list``
value, a decimal a ``float_list`` value, ``true``/``false`` int64 1/0, a string or ``{"b64": ...}``
a ``bytes_list`` value; one feature's values must all be of one kind. The gRPC form is the
``tensorflow.serving.Input`` message itself, which is also the gateway's in-memory form.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from isthmus.codecs.errors import CodecError
from isthmus.codecs.tfserving import signature_name
from isthmus.codecs.v2 import loads
from isthmus.protos.tfserving.tensorflow.core.example import example_pb2, feature_pb2
from isthmus.protos.tfserving.tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2


@dataclass(slots=True)  # treated as immutable
class ExamplesRequest:
    """A Classify or Regress request: its examples (``Input``) and the SignatureDef asked for."""

    input: input_pb2.Input
    signature_name: str | None = None


# --- JSON -> Input -------------------------------------------------------------------------------


def decode_request(body: bytes) -> ExamplesRequest:
    """A ``:classify`` / ``:regress`` body; CodecError names what is wrong."""
    doc = loads(body)
    if not isinstance(doc, dict):
        raise CodecError("request body must be a JSON object with an 'examples' list")
    signature = signature_name(doc)
    examples = doc.get("examples")
    if not isinstance(examples, list) or not examples:
        raise CodecError("request needs a non-empty 'examples' list")
    inp = input_pb2.Input()
    if "context" in doc:
        target = inp.example_list_with_context
        _fill_example(doc["context"], target.context, "context")
    else:
        target = inp.example_list  # type: ignore[assignment]
    for i, example in enumerate(examples):
        _fill_example(example, target.examples.add(), f"examples[{i}]")
    return ExamplesRequest(inp, signature)


def _fill_example(doc: Any, example: example_pb2.Example, where: str) -> None:
    if not isinstance(doc, dict):
        raise CodecError(f"{where} must be a JSON object (feature name -> value or list of values)")
    features = example.features.feature
    for name, content in doc.items():
        feature = features[name]
        for value in content if isinstance(content, list) else (content,):
            _add_value(value, feature, f"{where} feature '{name}'")


def _add_value(value: Any, feature: feature_pb2.Feature, where: str) -> None:
    kind = feature.WhichOneof("kind")
    if isinstance(value, bool):
        wanted, add = "int64_list", lambda: feature.int64_list.value.append(int(value))
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise CodecError(f"{where}: {value} does not fit an int64")
        wanted, add = "int64_list", lambda: feature.int64_list.value.append(value)
    elif isinstance(value, float):
        wanted, add = "float_list", lambda: feature.float_list.value.append(value)
    elif isinstance(value, str):
        wanted, add = "bytes_list", lambda: feature.bytes_list.value.append(value.encode())
    elif isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        data = _b64(value["b64"], where)
        wanted, add = "bytes_list", lambda: feature.bytes_list.value.append(data)
    else:
        raise CodecError(f"{where}: unexpected JSON value {orjson.dumps(value).decode()[:80]}")
    if kind is not None and kind != wanted:
        raise CodecError(f"{where}: a {wanted.split('_')[0]} value among {kind.split('_')[0]} values")
    add()


def _b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CodecError(f"{where}: 'b64' is not valid base64") from None


# --- Input -> JSON (to a TF Serving REST backend) ------------------------------------------------


def encode_request(request: ExamplesRequest) -> bytes:
    doc: dict[str, Any] = {}
    if request.signature_name:
        doc["signature_name"] = request.signature_name
    inp = request.input
    if inp.WhichOneof("kind") == "example_list_with_context":
        doc["context"] = _example_json(inp.example_list_with_context.context)
        examples = inp.example_list_with_context.examples
    else:
        examples = inp.example_list.examples
    doc["examples"] = [_example_json(e) for e in examples]
    return orjson.dumps(doc)


def _example_json(example: example_pb2.Example) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "bytes_list":
            out[name] = [_bytes_json(v) for v in feature.bytes_list.value]
        elif kind == "float_list":
            out[name] = [float(v) for v in feature.float_list.value]  # written with a decimal point
        elif kind == "int64_list":
            out[name] = list(feature.int64_list.value)
        else:
            out[name] = []
    return out


def _bytes_json(value: bytes) -> Any:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(value).decode()}


def example_count(request: ExamplesRequest) -> int:
    inp = request.input
    if inp.WhichOneof("kind") == "example_list_with_context":
        return len(inp.example_list_with_context.examples)
    return len(inp.example_list.examples)


def check_count(count: int, request: ExamplesRequest) -> None:
    """A backend's Classify / Regress result has one entry per example, or CodecError."""
    expected = example_count(request)
    if count != expected:
        raise CodecError(f"{count} results for {expected} examples")


# --- results <-> JSON ----------------------------------------------------------------------------


def encode_classification(result: classification_pb2.ClassificationResult) -> bytes:
    """``{"results": [[[label, score], ...], ...]}``, one list per example (TF Serving's JSON)."""
    return orjson.dumps(
        {"results": [[[c.label, c.score] for c in cs.classes] for cs in result.classifications]}
    )


def encode_regression(result: regression_pb2.RegressionResult) -> bytes:
    """``{"results": [value, ...]}``, one value per example (TF Serving's JSON)."""
    return orjson.dumps({"results": [r.value for r in result.regressions]})


def decode_classification(body: bytes, backend: str) -> classification_pb2.ClassificationResult:
    results = _results(body, backend)
    out = classification_pb2.ClassificationResult()
    for i, classes in enumerate(results):
        if not isinstance(classes, list):
            raise CodecError(f"results[{i}] of backend '{backend}' is not a list of [label, score] pairs")
        cs = out.classifications.add()
        for pair in classes:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and _number(pair[1])):
                raise CodecError(f"results[{i}] of backend '{backend}' has {pair!r}, not a [label, score] pair")
            cs.classes.add(label=pair[0], score=pair[1])
    return out


def decode_regression(body: bytes, backend: str) -> regression_pb2.RegressionResult:
    results = _results(body, backend)
    out = regression_pb2.RegressionResult()
    for i, value in enumerate(results):
        if not _number(value):
            raise CodecError(f"results[{i}] of backend '{backend}' is {value!r}, not a number")
        out.regressions.add(value=value)
    return out


def _results(body: bytes, backend: str) -> list[Any]:
    doc = loads(body, f"response of backend '{backend}'")
    # TF Serving writes "results"; its REST API page says "result": both are read
    results = doc.get("results", doc.get("result")) if isinstance(doc, dict) else None
    if not isinstance(results, list):
        raise CodecError(f"response of backend '{backend}' has no 'results' list")
    return results


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
