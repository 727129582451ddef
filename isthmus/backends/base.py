"""The one interface between the gateway and every kind of model server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

from isthmus.codecs import InferRequest, InferResponse

if TYPE_CHECKING:  # the TF Serving protos load only where a TF Serving call is made
    from isthmus.codecs.tfserving_examples import ExamplesRequest
    from isthmus.protos.tfserving.tensorflow_serving.apis.classification_pb2 import ClassificationResult
    from isthmus.protos.tfserving.tensorflow_serving.apis.get_model_metadata_pb2 import SignatureDefMap
    from isthmus.protos.tfserving.tensorflow_serving.apis.regression_pb2 import RegressionResult


@dataclass(slots=True)  # treated as immutable; not frozen (hot path: isthmus.codecs.tensors)
class CallContext:
    """Per-request facts a backend may need: the public model name and headers to forward; and, per
    try, set by the upstream layer (:mod:`isthmus.upstream`): the ``endpoint`` (an index into the
    backend's ``endpoints``) the try goes to, -1 for "the backend's own choice" (round robin), and
    the try's ``timeout`` in seconds (None: the backend's ``timeout``), always also bounded by the
    app's deadline (:mod:`isthmus.deadline`)."""

    model: str
    request_id: str
    headers: Mapping[str, str] = field(default_factory=dict)
    endpoint: int = -1
    timeout: float | None = None


class Backend(Protocol):
    """A model server (or local runtime) that answers inference requests.

    ``infer`` raises :class:`isthmus.backends.errors.BackendError` subclasses
    for backend failures and :class:`isthmus.codecs.CodecError` when the
    request cannot be expressed in the backend's dialect.
    """

    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse: ...

    async def ready(self, model: str) -> bool: ...

    async def metadata(self, model: str) -> Mapping[str, Any] | None:
        """The backend's V2-style model metadata (inputs/outputs), or None if its dialect has none."""
        ...


@runtime_checkable
class RemoteBackend(Backend, Protocol):
    """A backend that is a cluster of network endpoints (every protocol but ``onnx``). Each try is
    sent to the endpoint ``CallContext.endpoint`` names; the upstream layer picks it, retries,
    hedges and learns from each outcome (:mod:`isthmus.upstream`)."""

    #: the endpoints as the config writes them (metrics and logs name them so)
    endpoints: Sequence[str]

    async def probe(self, endpoint: int, model: str, timeout: float) -> bool:
        """One active health check of ``endpoint`` in the backend's protocol (``model`` is the model
        name on the backend): True when it passed, False when it failed or timed out; never raises."""
        ...


@runtime_checkable
class Explainer(Protocol):
    """A backend whose model server explains predictions (KServe V1's ``:explain``): the app's JSON
    body goes to it as is and its JSON answer comes back as is."""

    async def explain(self, body: bytes, ctx: CallContext) -> bytes: ...


@runtime_checkable
class TFServingCalls(Protocol):
    """What TensorFlow Serving backends (``tfserving``, ``tfserving-grpc``) answer beyond :class:`Backend`:
    the model's SignatureDefs (GetModelMetadata) and Classify / Regress on ``tf.Example`` inputs.
    The gateway checks for it (``isinstance``) and answers 501 / UNIMPLEMENTED for other backends."""

    async def signature_defs(self, model: str) -> SignatureDefMap | None:
        """The model's SignatureDefs (of the backend's version), or None when it cannot tell."""
        ...

    async def classify(self, request: ExamplesRequest, ctx: CallContext) -> ClassificationResult: ...

    async def regress(self, request: ExamplesRequest, ctx: CallContext) -> RegressionResult: ...
