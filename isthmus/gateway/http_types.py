"""The ingress's request and response objects: plain data, independent of any HTTP library."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson


class Headers(dict[str, str]):
    """Request headers with lower-case names; lookups ignore case. Repeated headers are joined by ', '."""

    __slots__ = ()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: Headers
    body: bytes
    transport: asyncio.BaseTransport | None = None

    async def read(self) -> bytes:
        return self.body


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The body every error answer has: ``{"error": "<what is wrong>"}``."""
    return Response(status, orjson.dumps({"error": message}), headers or {})
