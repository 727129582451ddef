"""The MLServer runtime of the mlserver peer: ``output-0 = input-0 * 2 + offset`` in FP32.

A module of its own because MLServer imports model implementations by dotted path.
The offset comes from the model settings' ``parameters.extra["offset"]``.
"""

from __future__ import annotations

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput

INPUT_NAME = "input-0"
OUTPUT_NAME = "output-0"


class AffineRuntime(MLModel):
    async def load(self) -> bool:
        self._offset = np.float32(self.settings.parameters.extra["offset"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        inputs = {tensor.name: tensor for tensor in payload.inputs}
        if set(inputs) != {INPUT_NAME}:
            raise MLServerError(f"expected one input named {INPUT_NAME!r}, got {sorted(inputs)}")
        tensor = inputs[INPUT_NAME]
        datatype = getattr(tensor.datatype, "value", tensor.datatype)  # enum or plain str
        if datatype != "FP32":
            raise MLServerError(f"{INPUT_NAME} must be FP32, got {datatype}")
        try:
            data = NumpyCodec.decode_input(tensor).astype(np.float32, copy=False)
        except ValueError as exc:
            raise MLServerError(f"{INPUT_NAME} data does not match its shape: {exc}") from exc
        out = data * np.float32(2) + self._offset
        # Built by hand: NumpyCodec.encode_output would turn shape [n] into [n, 1].
        output = ResponseOutput(
            name=OUTPUT_NAME, datatype="FP32", shape=list(out.shape), data=out.ravel().tolist()
        )
        return InferenceResponse(model_name=self.name, id=payload.id, outputs=[output])
