"""A backend's error body as a short, safe excerpt for the error the app gets (and the logs).

``body_excerpt`` takes the body's JSON ``error`` / ``detail`` / ``message`` field when there is
one (else the text), removes what looks like a secret, cuts it to :data:`LIMIT` characters and
escapes control characters, so an excerpt is one printable line that cannot forge log lines or
terminal sequences. Headers are never part of it.

What counts as a secret (replaced by ``REDACTED``): the userinfo of a URL (``https://user:pw@h``),
a ``Bearer`` / ``Basic`` credential, and the value after any name that says credential
(``password=...``, ``"api_key": "..."``, ``x-api-key: ...``, ``token=...``; not ``max_tokens``). The same idea as
:mod:`isthmus.admin.redact`, which works on config structures; this one works on free text
(hand-written: the patterns are few, and no library redacts free text without a model of it).
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

#: Characters of a backend's message kept in an error.
LIMIT = 200
REDACTED = "REDACTED"
_SCAN = 4096  # bytes of a body looked at: an excerpt never needs more
_PARSE = 65536  # a larger body is not parsed as JSON (an error document is small)
_FIELDS = ("error", "detail", "message", "msg", "error_message", "errors")

# Each pattern can only start where a run of its characters starts (the lookbehinds) and never
# backtracks into a run (possessive ``++``), so a scan is linear in the text's length.
_USERINFO = re.compile(r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*+://)[^\s/@\"'<>]++@")
_SCHEME_CREDENTIAL = re.compile(r"(?i)(?<![A-Za-z0-9])(bearer|basic)(\s++)[A-Za-z0-9._~+/=-]++")
_NAME_SEP = re.compile(r"(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]++)\"?'?\s*+[:=]\s*+\"?'?")
_VALUE = re.compile(r"[^\s\"'&,;}\]]*+")
_SECRET_NAME = re.compile(
    r"(?i)passw(?:or)?d|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential"
    r"|authorization|signature|cookie"
)
# C0 and C1 controls, DEL, and the Unicode line/paragraph separators and bidi controls
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def body_excerpt(body: bytes, limit: int = LIMIT, error_field: bool = True) -> str:
    """The safe excerpt of a body (``(empty body)`` when there is nothing to show); with
    ``error_field`` (an error answer), the JSON error field alone when there is one."""
    return sanitize(_message(body, error_field), limit) or "(empty body)"


def sanitize(text: str, limit: int = LIMIT) -> str:
    """``text`` with secrets redacted, cut to ``limit`` characters (``...`` marks a cut), escaped."""
    text = redact_text(text.strip())
    if len(text) > limit:
        text = text[:limit].rstrip() + "..."
    return _UNPRINTABLE.sub(_escape, text)


def redact_text(text: str) -> str:
    """``text`` with URL userinfo, Bearer/Basic credentials and values named like credentials redacted."""
    text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    text = _SCHEME_CREDENTIAL.sub(rf"\1\2{REDACTED}", text)
    out, pos = [], 0
    while (m := _NAME_SEP.search(text, pos)) is not None:
        if _SECRET_NAME.search(m.group(1)) is None or m.group(1).lower().endswith("tokens"):  # max_tokens: a count
            out.append(text[pos : m.end()])  # not a credential; what follows is scanned in turn
            pos = m.end()
            continue
        value = _VALUE.match(text, m.end())
        out.append(text[pos : m.end()] + (REDACTED if value.end() > m.end() else ""))
        pos = value.end()
    out.append(text[pos:])
    return "".join(out)


def _message(body: bytes, error_field: bool) -> str:
    if len(body) <= _PARSE:
        try:
            doc: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            return _field(doc) if error_field and isinstance(doc, dict) else _compact(doc)
    return body[:_SCAN].decode("utf-8", "backslashreplace")


def _field(doc: dict[str, Any]) -> str:
    """The document's error field (an object's own message field, if it is an object), else all of it."""
    for key in _FIELDS:
        value = doc.get(key)
        if isinstance(value, str) and value:
            return value[:_SCAN]
        if isinstance(value, dict) and value:
            return _field(value)
        if value:
            return _compact(value)
    return _compact(doc)


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()[:_SCAN]


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
