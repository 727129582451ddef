"""TF Serving model metadata and status: SignatureDefs <-> V2 metadata, and their JSON and proto forms.

Pure functions, no I/O. TF Serving's REST metadata document is
``{"model_spec": {...}, "metadata": {"signature_def": {"signature_def": {name: SignatureDef}}}}``
(field names as in the protos, every field printed: tensorflow_serving/model_servers/
http_rest_api_util.cc); its gRPC form packs a ``SignatureDefMap`` into ``metadata["signature_def"]``.
A V2 backend's metadata (inputs and outputs with datatypes and shapes) becomes one
``serving_default`` predict signature; a TF Serving signature becomes V2 inputs and outputs.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from google.protobuf import json_format

from isthmus.codecs.errors import CodecError
from isthmus.codecs.tensorproto import DATATYPE_OF_DTYPE, DTYPE_OF_DATATYPE, dtype_name
from isthmus.protos.tfserving import _pool
from isthmus.protos.tfserving.tensorflow.core.framework import types_pb2
from isthmus.protos.tfserving.tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
)

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
SIGNATURE_DEF = "signature_def"  # the one metadata field TF Serving knows
PLATFORM = "tensorflow_savedmodel"  # Triton's name for a SavedModel, in V2 metadata
SignatureDefMap = get_model_metadata_pb2.SignatureDefMap
ModelVersionStatus = get_model_status_pb2.ModelVersionStatus


# --- SignatureDefs <-> V2 metadata ---------------------------------------------------------------


def v2_metadata(signatures: SignatureDefMap, signature: str | None) -> dict[str, Any]:
    """One signature (None: ``serving_default``) as V2 metadata: ``platform``, ``inputs``, ``outputs``."""
    name = signature or DEFAULT_SIGNATURE
    if name not in signatures.signature_def:
        known = ", ".join(sorted(signatures.signature_def)) or "none"
        raise CodecError(f"the model has no signature '{name}' (signatures: {known})")
    sig = signatures.signature_def[name]
    return {
        "platform": PLATFORM,
        "inputs": [_v2_tensor(alias, sig.inputs[alias]) for alias in sorted(sig.inputs)],
        "outputs": [_v2_tensor(alias, sig.outputs[alias]) for alias in sorted(sig.outputs)],
    }


def v2_metadata_or_none(signatures: SignatureDefMap | None, signature: str | None) -> dict[str, Any] | None:
    """:func:`v2_metadata`, or None when the signatures are not known or cannot be V2 metadata."""
    if signatures is None:
        return None
    try:
        return v2_metadata(signatures, signature)
    except CodecError:
        return None


def _v2_tensor(alias: str, info: Any) -> dict[str, Any]:
    datatype = DATATYPE_OF_DTYPE.get(info.dtype)
    if datatype is None:
        raise CodecError(f"tensor '{alias}': {dtype_name(info.dtype)} has no V2 datatype")
    shape = [-1] if info.tensor_shape.unknown_rank else [int(d.size) for d in info.tensor_shape.dim]
    return {"name": alias, "datatype": datatype, "shape": shape}


def signatures_of_v2(metadata: Mapping[str, Any]) -> SignatureDefMap:
    """V2 metadata (a non-TF Serving backend's) as one ``serving_default`` predict signature."""
    out = SignatureDefMap()
    sig = out.signature_def[DEFAULT_SIGNATURE]
    sig.method_name = PREDICT_METHOD
    for field, infos in (("inputs", sig.inputs), ("outputs", sig.outputs)):
        for t in metadata.get(field) or ():
            name = t.get("name")
            if not isinstance(name, str) or not name:
                continue
            info = infos[name]
            info.name = name
            info.dtype = DTYPE_OF_DATATYPE.get(t.get("datatype", ""), types_pb2.DT_INVALID)
            shape = t.get("shape")
            if isinstance(shape, list):
                for d in shape:
                    info.tensor_shape.dim.add(size=int(d) if isinstance(d, int) else -1)
            else:
                info.tensor_shape.unknown_rank = True
    return out


# --- JSON (TF Serving REST) ----------------------------------------------------------------------


def signatures_from_json(body: Any, where: str) -> SignatureDefMap:
    """The SignatureDefMap of a TF Serving REST metadata document (already parsed JSON)."""
    try:
        doc = body["metadata"][SIGNATURE_DEF]
        return json_format.ParseDict(doc, SignatureDefMap(), ignore_unknown_fields=True, descriptor_pool=_pool.POOL)
    except (KeyError, TypeError):
        raise CodecError(f"{where} has no metadata.signature_def") from None
    except json_format.ParseError as exc:
        raise CodecError(f"{where}: metadata.signature_def is not a SignatureDefMap: {exc}") from None


def metadata_json(model: str, version: str | None, signatures: SignatureDefMap) -> dict[str, Any]:
    """TF Serving's REST metadata document for ``model`` (GetModelMetadataResponse as TF Serving prints it)."""
    return {
        "model_spec": _json(model_spec(model, version)),
        "metadata": {SIGNATURE_DEF: _json(signatures)},
    }


def _json(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


# --- protos (TF Serving gRPC) --------------------------------------------------------------------


def model_spec(model: str, version: str | None, signature: str | None = None) -> model_pb2.ModelSpec:
    """A ModelSpec naming ``model``; a numeric ``version`` is its version, other text its label."""
    spec = model_pb2.ModelSpec(name=model, signature_name=signature or "")
    if version:
        if version.isdigit():
            spec.version.value = int(version)
        else:
            spec.version_label = version
    return spec


def metadata_response(
    model: str, version: str | None, signatures: SignatureDefMap
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    resp = get_model_metadata_pb2.GetModelMetadataResponse(model_spec=model_spec(model, version))
    resp.metadata[SIGNATURE_DEF].Pack(signatures)
    return resp


def signatures_from_response(resp: get_model_metadata_pb2.GetModelMetadataResponse) -> SignatureDefMap:
    out = SignatureDefMap()
    packed = resp.metadata.get(SIGNATURE_DEF)
    if packed is None or not packed.Unpack(out):
        raise CodecError("GetModelMetadataResponse has no SignatureDefMap in metadata['signature_def']")
    return out


# --- model status --------------------------------------------------------------------------------


def status_response(versions: Iterable[tuple[str | None, bool]]) -> get_model_status_pb2.GetModelStatusResponse:
    """One ModelVersionStatus per ``(version, ready)``: AVAILABLE, or UNKNOWN with error UNAVAILABLE
    (no backend of that version is ready). A version that is not a number is reported as 0."""
    resp = get_model_status_pb2.GetModelStatusResponse()
    for version, ready in versions:
        entry = resp.model_version_status.add(version=int(version) if version and version.isdigit() else 0)
        entry.status.SetInParent()  # {"error_code": "OK", "error_message": ""}, as TF Serving prints it
        if ready:
            entry.state = ModelVersionStatus.AVAILABLE
        else:
            entry.state = ModelVersionStatus.UNKNOWN
            entry.status.error_code = 14  # tensorflow.error.UNAVAILABLE
            entry.status.error_message = "no backend of this version is ready"
    return resp


def status_json(resp: get_model_status_pb2.GetModelStatusResponse) -> dict[str, Any]:
    """As TF Serving's REST API prints it: ``{"model_version_status": [{"version": "1", "state":
    "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}``."""
    return _json(resp)
