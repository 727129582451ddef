"""Pure protocol codecs: bytes/JSON <-> the gateway's tensor model. No I/O."""

from isthmus.codecs.errors import CodecError
from isthmus.codecs.tensors import InferRequest, InferResponse, Tensor, TensorNaming

__all__ = ["CodecError", "InferRequest", "InferResponse", "Tensor", "TensorNaming"]
