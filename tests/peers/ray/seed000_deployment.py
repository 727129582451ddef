"""Seed 000's Ray Serve deployment (``LargeModelDeployment``), as the article writes it, minus torch.

The article's deployment::

    async def __call__(self, request):
        data = await request.json()
        input_tensor = torch.tensor(data["input"])
        with torch.no_grad():
            output = self.model(input_tensor)
        return {"output": output.tolist()}

Here numpy does the model's arithmetic (torch is not installed in the peer's venv): the model is the
peers' ``x * 2 + offset`` in FP32 (``torch.tensor`` of floats is FP32 too). The request and answer
JSON are exactly the article's: ``{"input": <nested list>}`` -> ``{"output": <nested list>}``, and
like the article's code it has no error handling of its own, so a body it cannot handle (not JSON,
no ``"input"``, ragged or non-numeric values) raises, and Ray Serve answers 500.

One addition: a GET (the launcher's readiness probe, ``GET /NAME/-/healthz``) answers 200; the
article's code would fail on a GET's empty body.
"""

from __future__ import annotations

import numpy as np
from ray import serve
from starlette.requests import Request


class AffineModel:
    """Stands in for ``torch.load("large_model.pth")``: ``x * 2 + offset`` in FP32."""

    def __init__(self, offset: float) -> None:
        self._offset = np.float32(offset)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x * np.float32(2) + self._offset


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=64)
class LargeModelDeployment:
    def __init__(self, name: str, offset: float) -> None:
        self._name = name
        self.model = AffineModel(offset)  # the article: torch.load("large_model.pth"); model.eval()

    async def __call__(self, request: Request) -> dict:
        if request.method == "GET":  # readiness only (not in the article)
            return {"model": self._name, "ready": True}
        data = await request.json()
        input_tensor = np.asarray(data["input"], dtype=np.float32)  # torch.tensor(data["input"])
        output = self.model(input_tensor)
        return {"output": output.tolist()}
