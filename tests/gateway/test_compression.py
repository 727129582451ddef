"""Content codings at the ingress: request bodies inflated within the size limit (a bomb is a 413 without
allocating it), unsupported codings 415, answers compressed when the app accepts it."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from isthmus.gateway.compression import MIN_SIZE, BodyError, chosen_coding, compress_response, compressed, decode_body
from isthmus.gateway.http_types import Response

DATA = b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1,3],"data":[1,2,3]}]}' * 50


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(
    "encoding, body",
    [
        ("gzip", gzip.compress(DATA)),
        ("x-gzip", gzip.compress(DATA)),
        ("GZIP", gzip.compress(DATA)),
        ("deflate", zlib.compress(DATA)),  # the zlib format, as RFC 9110 and tritonclient mean it
        ("deflate", raw_deflate(DATA)),  # what some clients send under that name
        ("identity", DATA),
        ("gzip, deflate", zlib.compress(gzip.compress(DATA))),  # applied in order: undone in reverse
        ("gzip", gzip.compress(DATA[:100]) + gzip.compress(DATA[100:])),  # two gzip members
    ],
)
def test_bodies_are_inflated(encoding, body):
    assert decode_body(body, encoding, len(DATA)) == DATA


def test_the_limit_is_on_the_inflated_size():
    body = gzip.compress(DATA)
    assert decode_body(body, "gzip", len(DATA)) == DATA
    with pytest.raises(BodyError) as err:
        decode_body(body, "gzip", len(DATA) - 1)
    assert err.value.status == 413 and f"over the limit of {len(DATA) - 1} bytes once decompressed (gzip)" in str(err.value)


def test_a_compression_bomb_is_refused_without_allocating_it():
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    bomb = b"".join(c.compress(zeros) for _ in range(256)) + c.flush()  # 256 MiB of zeros in ~0.5 MB
    assert len(bomb) < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(BodyError) as err:
            decode_body(bomb, "gzip", 1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.status == 413
    assert peak < 8 << 20, f"inflating a bomb peaked at {peak} bytes"


@pytest.mark.parametrize(
    "encoding, body, status, message",
    [
        ("br", b"x", 415, "unsupported Content-Encoding 'br' (supported: gzip, deflate, identity)"),
        ("gzip, zstd", b"x", 415, "unsupported Content-Encoding 'zstd'"),
        ("gzip", DATA, 400, "request body is not valid gzip data"),
        ("deflate", b"\x78\x9c\xff\xff", 400, "request body is not valid deflate data"),
        ("gzip", gzip.compress(DATA)[:-12], 400, "request body's gzip data is truncated"),
        ("gzip", b"", 400, "request body's gzip data is truncated"),
        ("gzip", gzip.compress(DATA) + b"junk", 400, "4 bytes after the end of its gzip data"),
        ("deflate", zlib.compress(DATA) + b"j", 400, "1 bytes after the end of its deflate data"),
    ],
)
def test_bad_bodies_are_named(encoding, body, status, message):
    with pytest.raises(BodyError) as err:
        decode_body(body, encoding, 1 << 20)
    assert err.value.status == status and message in str(err.value)


@pytest.mark.parametrize(
    "accept, coding",
    [
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("gzip, deflate, br", "gzip"),
        ("deflate, gzip;q=0.5", "deflate"),
        ("gzip;q=0, deflate", "deflate"),
        ("gzip;q=0", None),
        ("identity", None),
        ("br", None),
        ("*", "gzip"),
        ("*;q=0", None),
        ("x-gzip", "gzip"),
        ("GZip ; q=0.9", "gzip"),
        ("gzip;q=nonsense", None),
    ],
)
def test_accept_encoding_is_honoured_with_q_values(accept, coding):
    assert chosen_coding(accept) == coding


@pytest.mark.parametrize("accept, decompress", [("gzip", gzip.decompress), ("deflate", zlib.decompress)])
def test_answers_are_compressed_and_say_so(accept, decompress):
    resp = compress_response(Response(200, DATA, {"x-a": "1"}, "application/octet-stream"), accept)
    assert decompress(resp.body) == DATA and len(resp.body) < len(DATA) // 5
    assert resp.headers == {"x-a": "1", "Content-Encoding": accept, "Vary": "Accept-Encoding"}
    assert (resp.status, resp.content_type) == (200, "application/octet-stream")


def test_answer_not_compressed_when_nothing_acceptable():
    resp = compress_response(Response(200, DATA), "br")
    assert resp.body == DATA and "Content-Encoding" not in resp.headers


def test_only_answers_worth_it_are_compressed():
    small, big = b"x" * (MIN_SIZE - 1), b"x" * MIN_SIZE
    assert compressed({"accept-encoding": "gzip"}, Response(200, small)).body == small
    assert gzip.decompress(compressed({"accept-encoding": "gzip"}, Response(200, big)).body) == big
    assert compressed({}, Response(200, big)).body == big
