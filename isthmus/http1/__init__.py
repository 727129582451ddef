"""A lean HTTP/1.1 keep-alive client for backend calls, on asyncio Protocols and httptools.

aiohttp's client cost ~40% of the gateway's CPU per proxied request in profiles
(docs/benchmarks.md); this one does only what a backend call needs: pre-built
request bytes, one request per connection at a time, a bounded pool per endpoint.
Parsing is httptools' (llhttp), never hand-written.
"""

from isthmus.http1.client import (
    ConnectError,
    Http1Error,
    Http1Pool,
    PoolFull,
    ProtocolError,
    RequestTimeout,
    Response,
    ResponseTooLarge,
)

__all__ = [
    "ConnectError", "Http1Error", "Http1Pool", "PoolFull", "ProtocolError", "RequestTimeout", "Response", "ResponseTooLarge",
]  # fmt: skip
