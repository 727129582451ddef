"""The stand-in TF Serving model, shared by the REST and gRPC stand-ins (tests only).

Its SignatureDefs are written here as TF Serving would report them for a SavedModel with four
signatures: ``serving_default`` (predict: ``y = x*2 + offset``), ``times_three`` (predict:
``y = x*3 + offset``), ``tensorflow/serving/classify`` and ``tensorflow/serving/regress`` (on
``tf.Example`` inputs with a float feature ``x``). Predict applies its formula to every input it
is given, whatever its name (the stand-ins are lenient there; existing tests rely on it).
Classify answers, per example, ``[["double", 2x+offset], ["", x]]``; Regress ``2x+offset``. As in
TF Serving, Classify and Regress need a signature of that method (the default one is predict):
``Expected classification signature method_name to be tensorflow/serving/classify. Was: ...``.
"""

from __future__ import annotations

from typing import Any, Mapping

DEFAULT = "serving_default"
PREDICT, CLASSIFY, REGRESS = "tensorflow/serving/predict", "tensorflow/serving/classify", "tensorflow/serving/regress"

# name -> (method_name, inputs {alias: (dtype, dims)}, outputs {alias: (dtype, dims)})
SIGNATURES: Mapping[str, tuple[str, dict[str, tuple[str, list[int]]], dict[str, tuple[str, list[int]]]]] = {
    DEFAULT: (PREDICT, {"x": ("DT_FLOAT", [-1, -1])}, {"y": ("DT_FLOAT", [-1, -1])}),
    "times_three": (PREDICT, {"x": ("DT_FLOAT", [-1, -1])}, {"y": ("DT_FLOAT", [-1, -1])}),
    CLASSIFY: (CLASSIFY, {"inputs": ("DT_STRING", [-1])}, {"classes": ("DT_STRING", [-1, 2]), "scores": ("DT_FLOAT", [-1, 2])}),
    REGRESS: (REGRESS, {"inputs": ("DT_STRING", [-1])}, {"outputs": ("DT_FLOAT", [-1, 1])}),
}
FACTOR = {DEFAULT: 2.0, "times_three": 3.0}


class SignatureError(Exception):
    """TF Serving's INVALID_ARGUMENT for a signature that does not exist or has another method."""


def check_signature(name: str | None, method: str) -> str:
    name = name or DEFAULT
    if name not in SIGNATURES:
        raise SignatureError(f'Serving signature name: "{name}" not found in signature def')
    actual = SIGNATURES[name][0]
    if actual != method:
        kind = {PREDICT: "predict", CLASSIFY: "classification", REGRESS: "regression"}[method]
        raise SignatureError(f"Expected {kind} signature method_name to be {method}. Was: {actual}")
    return name


def classes(x: float, offset: float) -> list[tuple[str, float]]:
    return [("double", 2 * x + offset), ("", x)]


def regression(x: float, offset: float) -> float:
    return 2 * x + offset


def signature_defs_json() -> dict[str, Any]:
    """``{"signature_def": {name: SignatureDef}}`` as TF Serving's REST API prints it (proto field
    names, int64 as strings, every field present)."""

    def infos(tensors: dict[str, tuple[str, list[int]]]) -> dict[str, Any]:
        return {
            alias: {
                "dtype": dtype,
                "tensor_shape": {"dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": False},
                "name": f"{alias}:0",
            }
            for alias, (dtype, dims) in tensors.items()
        }

    return {
        "signature_def": {
            name: {"inputs": infos(i), "outputs": infos(o), "method_name": method}
            for name, (method, i, o) in SIGNATURES.items()
        }
    }


def signature_def_map() -> Any:
    """The same SignatureDefs as a ``tensorflow.serving.SignatureDefMap`` message."""
    from isthmus.protos.tfserving.tensorflow.core.framework import types_pb2
    from isthmus.protos.tfserving.tensorflow_serving.apis import get_model_metadata_pb2

    out = get_model_metadata_pb2.SignatureDefMap()
    for name, (method, inputs, outputs) in SIGNATURES.items():
        sig = out.signature_def[name]
        sig.method_name = method
        for target, tensors in ((sig.inputs, inputs), (sig.outputs, outputs)):
            for alias, (dtype, dims) in tensors.items():
                info = target[alias]
                info.name = f"{alias}:0"
                info.dtype = types_pb2.DataType.Value(dtype)
                for d in dims:
                    info.tensor_shape.dim.add(size=d)
    return out
