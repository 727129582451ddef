"""HTTP content codings at the ingress: ``Content-Encoding`` request bodies and ``Accept-Encoding`` answers.

Requests: ``gzip`` (also ``x-gzip``), ``deflate`` (the zlib format RFC 9110 names, and the raw
DEFLATE some clients send under that name) and ``identity``, several in the order they were
applied. The size limit of the listener applies to the *decompressed* body: :mod:`zlib` inflates
incrementally with ``max_length``, so a compression bomb is refused (413) after at most the limit
is produced, never allocated whole. Any other coding is a 415 naming it.

Answers (inference answers only, :func:`compressed`): gzip or deflate when the app accepts one
(q-values honoured, gzip preferred) and the body is at least :data:`MIN_SIZE` bytes; smaller
answers are not worth the CPU. Other endpoints are never compressed, as Triton does:
tritonclient's asyncio client sends aiohttp's default ``Accept-Encoding: gzip, deflate`` with
decompression off, and reads ``Content-Encoding`` on inference answers only.

Hand-written on :mod:`zlib` (the standard library): the ingress is its own HTTP server
(:mod:`isthmus.gateway.http_server`), so no framework's middleware applies, and the bounded
inflate is the part that matters.
"""

from __future__ import annotations

import zlib

from isthmus.gateway.http_types import Response

MIN_SIZE = 1024  # bytes: smaller answers go uncompressed
LEVEL = 1  # zlib's fastest level: most of the saving on tensor data for a fraction of the CPU of 6
_CHUNK = 256 * 1024  # compressed bytes fed to zlib at a time
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_WBITS = -zlib.MAX_WBITS
_ALIASES = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate", "identity": "identity"}
_CODINGS = ("gzip", "deflate")  # what an answer may be compressed with, in order of preference


class BodyError(Exception):
    """A request body that cannot be decoded: ``status`` 400, 413 or 415 and a message naming why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# --- request bodies -----------------------------------------------------------------------------


def decode_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """``body`` with the codings of a Content-Encoding header undone, at most ``limit`` bytes."""
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    for coding in codings:
        if _ALIASES.get(coding) is None:
            raise BodyError(
                415, f"unsupported Content-Encoding '{coding}' (supported: gzip, deflate, identity)"
            )
    for coding in reversed(codings):  # the last applied is undone first
        name = _ALIASES[coding]
        if name == "gzip":
            body = _inflate(body, "gzip", _GZIP_WBITS, limit)
        elif name == "deflate":
            body = _inflate(body, "deflate", _ZLIB_WBITS if _is_zlib(body) else _RAW_WBITS, limit)
    return body


def _is_zlib(data: bytes) -> bool:
    """A zlib stream starts with a CMF/FLG pair: method 8 and a multiple of 31 (RFC 1950)."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _inflate(data: bytes, coding: str, wbits: int, limit: int) -> bytes:
    out: list[bytes] = []
    size = 0
    view = memoryview(data)
    pos = 0
    d = zlib.decompressobj(wbits)
    try:
        while True:
            pending = d.unconsumed_tail
            if not pending and pos < len(view):
                pending = view[pos : pos + _CHUNK]
                pos += len(pending)
            # one byte more than may still come: producing it proves the body is over the limit
            chunk = d.decompress(pending, limit - size + 1)
            if not chunk and not pending and not d.eof:
                raise BodyError(400, f"request body's {coding} data is truncated")
            size += len(chunk)
            if size > limit:
                raise BodyError(
                    413, f"request body too large: over the limit of {limit} bytes once decompressed ({coding})"
                )
            out.append(chunk)
            if d.eof:
                rest = d.unused_data + bytes(view[pos:])
                if not rest:
                    return b"".join(out)
                if coding != "gzip" or rest[:2] != b"\x1f\x8b":  # gzip allows several members, back to back
                    raise BodyError(400, f"request body has {len(rest)} bytes after the end of its {coding} data")
                view, pos = memoryview(rest), 0
                d = zlib.decompressobj(wbits)
    except zlib.error as exc:
        raise BodyError(400, f"request body is not valid {coding} data: {exc}") from None


# --- answers ------------------------------------------------------------------------------------


def chosen_coding(accept_encoding: str) -> str | None:
    """The coding to answer with for an Accept-Encoding header: gzip, deflate or None (identity)."""
    quality: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        q = 1.0
        params = params.strip().lower()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        quality[name] = q
    star = quality.get("*", 0.0)
    best, best_q = None, 0.0
    for coding in _CODINGS:
        q = quality.get(coding, quality.get("x-gzip", star) if coding == "gzip" else star)
        if q > best_q:
            best, best_q = coding, q
    return best


def compressed(headers: dict[str, str], response: Response) -> Response:
    """``response`` compressed if the request's ``headers`` (lower-case names) accept it and it is worth it."""
    if len(response.body) < MIN_SIZE:
        return response
    accept = dict.get(headers, "accept-encoding")  # names are stored lower-case: no case folding
    return response if accept is None else compress_response(response, accept)


def compress_response(response: Response, accept_encoding: str) -> Response:
    """``response`` compressed when the app accepts gzip or deflate (the caller checks :data:`MIN_SIZE`)."""
    coding = chosen_coding(accept_encoding)
    headers = response.headers
    headers["Vary"] = "Accept-Encoding"
    if coding is None or "Content-Encoding" in headers:
        return response
    if coding == "gzip":
        c = zlib.compressobj(LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    else:
        c = zlib.compressobj(LEVEL, zlib.DEFLATED, _ZLIB_WBITS)
    body = c.compress(response.body) + c.flush()
    headers["Content-Encoding"] = coding
    return Response(response.status, body, headers, response.content_type)
