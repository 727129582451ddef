"""Isthmus-only settings as ``filter_metadata["isthmus"]``: a Struct that Envoy and gRPC ignore."""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3 import base_pb2
from google.protobuf import json_format, struct_pb2

KEY = "isthmus"


def metadata(values: dict[str, Any]) -> base_pb2.Metadata:
    """``Metadata`` holding ``values`` (None values dropped) under the ``isthmus`` key."""
    s = struct_pb2.Struct()
    s.update({k: v for k, v in values.items() if v is not None})
    m = base_pb2.Metadata()
    m.filter_metadata[KEY].CopyFrom(s)
    return m


def read(m: base_pb2.Metadata) -> dict[str, Any]:
    """The ``isthmus`` values of ``m`` (empty when absent)."""
    if KEY not in m.filter_metadata:
        return {}
    return _ints(json_format.MessageToDict(m.filter_metadata[KEY]))


def _ints(value: Any) -> Any:
    """Struct numbers are doubles: give integral ones back as ints (sizes, counts)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value
