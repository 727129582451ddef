"""The gateway's in-memory inference model, shared by every protocol.

A request arrives either as tensors (Open Inference Protocol V2) or as
KServe V1 ``instances`` (free-form JSON). It keeps the form it arrived in;
a backend converts it to its own dialect with :mod:`isthmus.codecs.convert`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

# V2 datatype -> numpy dtype. BYTES are object arrays of ``bytes``/``str``.
DATATYPES: Mapping[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}

DATATYPE_OF_DTYPE: Mapping[np.dtype, str] = {v: k for k, v in DATATYPES.items()}

# The per-request value objects (Tensor, InferRequest, InferResponse, and CallContext, Answer and the
# HTTP/1 client Response elsewhere) are plain slotted dataclasses, never mutated after construction.
# They are not frozen because a frozen dataclass sets each field through object.__setattr__, which
# costs ~0.1 us per field: about 2.5 us of the gateway's ~40 us of CPU per request.


@dataclass(slots=True)  # treated as immutable; not frozen (see above)
class Tensor:
    """A named, typed, shaped tensor. ``data`` has exactly ``shape``."""

    name: str
    datatype: str
    data: np.ndarray
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.data.shape)


@dataclass(frozen=True, slots=True)
class TensorNaming:
    """How a backend names and types tensors its own dialect leaves unnamed.

    KServe V1 ``instances``, TF Serving rows and Ray JSON carry no tensor
    names or datatypes; these fill them in when translating to V2.
    """

    input_name: str = "input-0"
    output_name: str = "output-0"
    datatype: str = "FP32"


@dataclass(frozen=True, slots=True)
class BinaryOutputs:
    """Which outputs the app wants as binary tensor data (the REST binary tensor data extension).

    ``default`` is the request's ``binary_data_output`` parameter; ``named`` holds the outputs whose
    own ``binary_data`` parameter says otherwise (only those, so that equal choices are equal objects).
    Built only when some output is binary: a request without it has ``binary_outputs=None``.
    """

    default: bool = False
    named: Mapping[str, bool] = field(default_factory=dict)

    def wants(self, name: str) -> bool:
        return self.named.get(name, self.default)


@dataclass(slots=True)  # treated as immutable; not frozen (see above)
class InferRequest:
    """One inference request, in the form the app sent it.

    Exactly one of ``inputs`` (V2 tensors) and ``instances`` (V1 JSON) is
    set. ``raw_v2`` keeps the original V2 JSON body so a V2 backend can be
    sent the very bytes the app sent, with no re-encoding.

    ``output_parameters`` holds, per requested output name, the parameters the
    app gave it that can change the answer (e.g. ``{"classification": 2}``);
    parameters that only describe the wire form (``binary_data``) are not in it.
    ``binary_outputs`` says which outputs the app wants back as binary tensor data
    (None: all in JSON); it is the ingress's business, never sent to a backend as such.
    ``signature_name`` is the TF Serving SignatureDef the app asked for (None:
    the backend's configured one).
    """

    inputs: tuple[Tensor, ...] | None = None
    instances: list[Any] | None = None
    outputs: tuple[str, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    raw_v2: bytes | None = None
    output_parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    signature_name: str | None = None
    binary_outputs: BinaryOutputs | None = None


@dataclass(slots=True)  # treated as immutable; not frozen (see above)
class InferResponse:
    """A backend's answer, in the form its dialect gave it.

    Exactly one of ``outputs`` (tensors), ``v2_outputs`` (a V2 backend's
    JSON outputs, kept verbatim so a V2 app gets them without re-encoding)
    and ``predictions`` (V1-style JSON) is set; ``naming`` says how to turn
    predictions into tensors.
    """

    outputs: tuple[Tensor, ...] | None = None
    v2_outputs: list[dict[str, Any]] | None = None
    predictions: list[Any] | None = None
    naming: TensorNaming = TensorNaming()
    id: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
