"""Local ONNX Runtime backend: inference in a thread pool, never on the event loop."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

import numpy as np

from isthmus.backends.base import CallContext
from isthmus.backends.errors import (
    BackendFailed,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
)
from isthmus.backends.http_base import naming_of
from isthmus.backends.onnx_providers import choose_providers, verify_active
from isthmus.codecs import CodecError, InferRequest, InferResponse, Tensor
from isthmus.codecs.arrays import datatype_of, values_to_array
from isthmus.codecs.names import check_known
from isthmus.config.model import OnnxBackendConfig
from isthmus.deadline import call_timeout

log = logging.getLogger(__name__)

# onnxruntime element type -> V2 datatype
_ORT_TYPES = {
    "tensor(bool)": "BOOL", "tensor(uint8)": "UINT8", "tensor(uint16)": "UINT16", "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64", "tensor(int8)": "INT8", "tensor(int16)": "INT16", "tensor(int32)": "INT32",
    "tensor(int64)": "INT64", "tensor(float16)": "FP16", "tensor(float)": "FP32", "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}  # fmt: skip


class OnnxBackend:
    def __init__(self, config: OnnxBackendConfig):
        self.name = config.name
        self.config = config
        self.naming = naming_of(config.tensors)
        self.providers: list[str] = []
        self._session: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._inputs: list[tuple[str, str, list[int]]] = []
        self._outputs: list[tuple[str, str, list[int]]] = []
        self._queued = 0  # calls handed to the pool and not finished (a timed-out one still runs)
        self._max_queued = config.max_queue

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(self.config.workers, thread_name_prefix=f"onnx-{self.name}")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._load)

    def _load(self) -> None:
        import onnxruntime as ort

        requested = choose_providers(self.config.device, ort.get_available_providers())
        options = ort.SessionOptions()
        if self.config.threads:
            options.intra_op_num_threads = self.config.threads
        session = ort.InferenceSession(self.config.model_path, sess_options=options, providers=requested)
        self.providers = session.get_providers()
        verify_active(self.config.device, self.providers)
        self._inputs = [(i.name, _ORT_TYPES.get(i.type, i.type), _dims(i.shape)) for i in session.get_inputs()]
        self._outputs = [(o.name, _ORT_TYPES.get(o.type, o.type), _dims(o.shape)) for o in session.get_outputs()]
        if self.config.warmup:
            session.run(None, {name: _zeros(dt, shape) for name, dt, shape in self._inputs})
        self._session = session
        log.info("onnx backend %s: %s on %s", self.name, self.config.model_path, self.providers)

    async def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._session = None

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        if self._session is None or self._executor is None:
            raise BackendUnavailable(self.name, "model not loaded")
        feeds = self._feeds(request, ctx.model)
        wanted = list(request.outputs) or None
        known_out = {o[0] for o in self._outputs}
        for name in wanted or ():
            if name not in known_out:
                raise CodecError(f"unknown output '{name}' (model outputs: {', '.join(sorted(known_out))})")
        if self._queued >= self._max_queued:
            # a timed-out call keeps its thread busy; past this many waiting, more would only pile up
            raise BackendUnavailable(self.name, f"overloaded: {self._queued} inference calls already waiting")
        loop = asyncio.get_running_loop()
        self._queued += 1
        future = loop.run_in_executor(self._executor, self._run, wanted, feeds)
        future.add_done_callback(self._call_done)
        try:
            timeout = max(0.001, call_timeout(self.config.timeout))  # the app's deadline, when nearer
            results = await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise BackendTimeout(self.name, f"inference took over {timeout:g}s") from None
        names = wanted or [o[0] for o in self._outputs]
        outputs = tuple(Tensor(n, datatype_of(np.asarray(r), n), np.asarray(r)) for n, r in zip(names, results))
        return InferResponse(outputs=outputs, id=request.id)

    def _call_done(self, _: object) -> None:
        self._queued -= 1

    def _run(self, wanted: list[str] | None, feeds: dict[str, np.ndarray]) -> list[Any]:
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

        try:
            return self._session.run(wanted, feeds)
        except ort_errors.InvalidArgument as exc:
            raise BackendRejected(self.name, str(exc).split("] ", 1)[-1], 400) from None
        except Exception as exc:  # onnxruntime raises bare RuntimeError subclasses
            raise BackendFailed(self.name, f"inference failed: {exc}") from None

    def _feeds(self, request: InferRequest, model: str) -> dict[str, np.ndarray]:
        """Bind the request's tensors to the model's inputs by name. KServe V1 ``instances`` have no
        name: they feed the model's single input (a model with several cannot take them)."""
        if request.inputs is None:
            if len(self._inputs) != 1:
                raise CodecError(f"model has {len(self._inputs)} inputs; KServe V1 instances can feed only one")
            name, datatype, _ = self._inputs[0]
            return {name: values_to_array(request.instances, datatype, "instances")}
        by_name = {name: (datatype, shape) for name, datatype, shape in self._inputs}
        check_known([t.name for t in request.inputs], by_name, model)
        feeds = {}
        for t in request.inputs:
            datatype, shape = by_name[t.name]
            if t.datatype != datatype:
                raise CodecError(f"input '{t.name}' must be {datatype}, got {t.datatype}")
            if len(shape) != len(t.shape) or any(d >= 0 and d != g for d, g in zip(shape, t.shape)):
                raise CodecError(f"input '{t.name}' must have shape {shape} (-1: any), got {list(t.shape)}")
            feeds[t.name] = t.data.astype(str) if datatype == "BYTES" else t.data
        missing = set(by_name) - set(feeds)
        if missing:
            raise CodecError(f"missing input(s): {', '.join(sorted(missing))}")
        return feeds

    async def ready(self, model: str) -> bool:
        return self._session is not None

    async def metadata(self, model: str) -> Mapping[str, Any] | None:
        def describe(items: list[tuple[str, str, list[int]]]) -> list[dict[str, Any]]:
            return [{"name": n, "datatype": d, "shape": s} for n, d, s in items]

        return {"platform": "onnxruntime_onnx", "inputs": describe(self._inputs), "outputs": describe(self._outputs)}


def _dims(shape: list[Any]) -> list[int]:
    return [d if isinstance(d, int) else -1 for d in shape]


def _zeros(datatype: str, shape: list[int]) -> np.ndarray:
    from isthmus.codecs.tensors import DATATYPES

    dims = [d if d > 0 else 1 for d in shape]
    if datatype == "BYTES":
        return np.full(dims, "", dtype=object)
    return np.zeros(dims, dtype=DATATYPES[datatype])
