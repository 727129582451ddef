"""A backend's error body as the excerpt the app sees: the message, short, one line, no secrets."""

import re

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.backends.error_body import LIMIT, body_excerpt, sanitize

UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    "body, excerpt",
    [
        (b'{"error": "kaboom"}', "kaboom"),
        (b'{"detail": "Could not find explainer_host."}', "Could not find explainer_host."),
        (b'{"error": {"code": 13, "message": "model crashed"}}', "model crashed"),
        (b'{"detail": [{"loc": ["body"], "msg": "field required"}]}', '[{"loc":["body"],"msg":"field required"}]'),
        (b'{"status": "bad"}', '{"status":"bad"}'),
        (b"Internal Server Error", "Internal Server Error"),
        (b"  \n", "(empty body)"),
        (b"", "(empty body)"),
        (b"caf\xc3\xa9 \xff", "caf\u00e9 \\xff"),
    ],
)
def test_the_message_of_the_body(body, excerpt):
    assert body_excerpt(body) == excerpt


def test_a_200_body_is_shown_whole_not_by_its_error_field():
    assert body_excerpt(b'{"output": [1], "message": "ok"}', error_field=False) == '{"output":[1],"message":"ok"}'


def test_long_messages_are_cut():
    out = body_excerpt(orjson.dumps({"error": "x" * 10_000}))
    assert out == "x" * LIMIT + "..."
    assert len(body_excerpt(b"Traceback " * 100_000)) <= LIMIT + 3  # a huge text body: only its start is read


def test_control_characters_are_escaped_so_the_excerpt_is_one_line():
    out = body_excerpt(b"Traceback:\n  File x\r\n\x1b[31mred\x1b[0m\tend\xe2\x80\xa8forged")
    assert out == "Traceback:\\n  File x\\r\\n\\x1b[31mred\\x1b[0m\\tend\\u2028forged"


@pytest.mark.parametrize(
    "text, secret",
    [
        ("cannot reach https://admin:hunter2@db.internal:5432/x", "hunter2"),
        ("cannot reach https://TOKEN123@host/x", "TOKEN123"),
        ("request had Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi"),
        ("headers: {'x-api-key': 'k-123456'}", "k-123456"),
        ('{"api_key":"sk-live-42","model":"m"}', "sk-live-42"),
        ("login failed: password=pa55word&user=bob", "pa55word"),
        ("aws_secret_access_key = AKIAxyz", "AKIAxyz"),
        ("Cookie: session=abc123", "session=abc123"),
    ],
)
def test_secrets_are_redacted(text, secret):
    out = sanitize(text)
    assert secret not in out and "REDACTED" in out


def test_counts_named_like_tokens_are_kept():
    assert sanitize("max_tokens: 4096 exceeds the limit") == "max_tokens: 4096 exceeds the limit"


def test_a_secret_in_a_json_error_field():
    out = body_excerpt(b'{"error": "bad credentials: {\\"token\\": \\"t0ps3cret\\"}"}')
    assert "t0ps3cret" not in out and out.startswith("bad credentials")


@given(st.binary(max_size=2000))
def test_any_body_gives_a_short_printable_line(body):
    out = body_excerpt(body)
    assert out and not UNPRINTABLE.search(out)
    # escapes (\\xNN, \\uNNNN) can lengthen the cut text, never beyond 6 characters per character
    assert len(out) <= 6 * LIMIT + 3


@given(st.text(max_size=500))
def test_any_text_gives_a_short_printable_line(text):
    out = sanitize(text)
    assert not UNPRINTABLE.search(out)


@pytest.mark.parametrize("run", ["x", "a.", "a://", "token", "Bearer ", "x=", "p" * 50 + ":"])
def test_redaction_is_linear_on_long_runs(run):
    """Long runs that a backtracking pattern would scan quadratically (~10^7 steps at this size)."""
    import time

    text = (run * (2 * 4096 // len(run) + 1))[: 2 * 4096]
    start = time.perf_counter()
    sanitize(text)
    assert time.perf_counter() - start < 0.5  # linear: about a millisecond
