"""A scriptable in-memory backend for unit tests of the layers above."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from isthmus.backends.base import CallContext
from isthmus.codecs import InferRequest, InferResponse, Tensor
from isthmus.codecs.convert import request_tensors
from isthmus.codecs.tensors import TensorNaming

Handler = Callable[[InferRequest, CallContext], InferResponse]


def doubling(offset: float = 0.0) -> Handler:
    """A handler computing ``output-0 = input * 2 + offset`` on the first input."""

    def handle(request: InferRequest, ctx: CallContext) -> InferResponse:
        t = request_tensors(request, TensorNaming())[0]
        return InferResponse(outputs=(Tensor("output-0", t.datatype, t.data * 2 + offset),), id=request.id)

    return handle


class FakeBackend:
    def __init__(self, name: str, handler: Handler | None = None, *, error: Exception | None = None):
        self.name = name
        self.handler = handler or doubling()
        self.error = error
        self.calls: list[tuple[InferRequest, CallContext]] = []
        self.is_ready = True
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        self.calls.append((request, ctx))
        if self.error is not None:
            raise self.error
        return self.handler(request, ctx)

    async def ready(self, model: str) -> bool:
        return self.is_ready

    async def metadata(self, model: str) -> Mapping[str, Any] | None:
        tensor = {"datatype": "FP32", "shape": [-1, -1]}
        return {"inputs": [{"name": "input-0", **tensor}], "outputs": [{"name": "output-0", **tensor}]}
