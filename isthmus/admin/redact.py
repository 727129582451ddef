"""Secrets out of a config dump: pure functions over JSON-like data (no I/O, never reads a file).

What counts as a secret:

- the password in any URL's userinfo (``redis://:pw@h``, ``redis://user:pw@h``): Redis URLs keep
  their user name (an ACL user, useful to operators); any other URL loses its whole userinfo
  (``https://TOKEN@host`` puts a token where the user name goes);
- userinfo in a bare ``user:pw@host:port`` address (Redis cluster nodes, sentinels);
- URL query parameters named like credentials (``?password=``, ``?token=``, ``?sig=``...);
- the value of any mapping key named like a credential (``password``, ``api_key``, ``*_token``...);
- every value of a ``headers`` field (OTLP exporter headers carry auth tokens); names are kept.

File paths (a TLS key's path) are not secrets and are kept; their contents are never read.
Redaction is idempotent, and data without secrets comes back unchanged.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

REDACTED = "REDACTED"

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$", re.DOTALL)
_HOST = re.compile(r"^(\[[0-9A-Za-z:.%]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)(:\d+)?$")
# not a URL, so any character may be in the userinfo (up to the last '@'); '_' is in compose host names
_BARE_ADDRESS = re.compile(r"^(?P<userinfo>.+)@(?P<host>(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d+)$", re.DOTALL)
_REDIS_SCHEMES = frozenset({"redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel"})
_SECRET_WORDS = ("password", "passwd", "secret", "token", "credential", "api_key", "apikey", "authorization")
_SECRET_QUERY = frozenset({"pass", "pwd", "key", "sig", "signature", "auth", "access_key", "private_key"})
_HEADER_FIELDS = frozenset({"headers"})


def is_secret_name(name: str) -> bool:
    """A mapping key or query parameter whose value is a credential."""
    lowered = name.lower().replace("-", "_")
    return lowered == "auth" or any(word in lowered for word in _SECRET_WORDS)


def redact_url(text: str) -> str:
    """``text`` with the userinfo's password (or whole userinfo) and secret query values replaced."""
    m = _URL.match(text)
    if m is None:
        bare = _BARE_ADDRESS.match(text)
        if bare is None:
            return text
        return f"{_userinfo(bare['userinfo'], keep_user=True)}@{bare['host']}"
    scheme, rest = m["scheme"], m["rest"]
    authority_end = _first_of(rest, "/?#")
    authority, tail = rest[:authority_end], rest[authority_end:]
    at = rest.rfind("@")
    redis = scheme.lower() in _REDIS_SCHEMES
    if at >= authority_end and at != -1 and (redis or not _HOST.match(authority)):
        # an unencoded '/', '?' or '#' in the password. A Redis URL's path is a db number, so its
        # userinfo runs to the last '@'; so does any URL whose apparent authority is no host
        # (the safe reading: redact more, never leak)
        authority_end = _first_of(rest[at:], "/?#") + at
        authority, tail = rest[:authority_end], rest[authority_end:]
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        authority = f"{_userinfo(userinfo, keep_user=redis)}@{host}"
    return f"{scheme}://{authority}{_redact_query(tail)}"


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of JSON-like ``value`` (dicts, lists, scalars) with every secret replaced by ``REDACTED``.

    ``key`` is the mapping key ``value`` sits under (None at the top).
    """
    if key is not None and value is not None:
        if is_secret_name(key):
            return _all_redacted(value)
        if key in _HEADER_FIELDS:
            return _header_values_redacted(value)
    if isinstance(value, dict):
        return {k: redact(v, k if isinstance(k, str) else None) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        return redact_url(value)
    return value


def _userinfo(userinfo: str, keep_user: bool) -> str:
    user, colon, _ = userinfo.partition(":")
    if keep_user and colon:
        return f"{user}:{REDACTED}"
    return REDACTED


def _redact_query(tail: str) -> str:
    q = tail.find("?")
    if q == -1:
        return tail
    f = tail.find("#", q)
    query, fragment = (tail[q + 1 :], "") if f == -1 else (tail[q + 1 : f], tail[f:])
    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        parts.append(f"{name}={REDACTED}" if eq and _secret_param(name) else part)
    return f"{tail[: q + 1]}{'&'.join(parts)}{fragment}"


def _secret_param(name: str) -> bool:
    plain = unquote_plus(name).lower().replace("-", "_")
    return is_secret_name(plain) or plain in _SECRET_QUERY or plain.startswith("x_amz_")


def _first_of(text: str, chars: str) -> int:
    positions = [i for i in (text.find(c) for c in chars) if i != -1]
    return min(positions) if positions else len(text)


def _all_redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _all_redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_all_redacted(v) for v in value]
    return None if value is None else REDACTED


def _header_values_redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (None if v is None else REDACTED) for k, v in value.items()}
    if isinstance(value, list | tuple):  # [{"name": ..., "value": ...}] or ["k=v"]
        return [
            {k: (x if k == "name" else _all_redacted(x)) for k, x in v.items()} if isinstance(v, dict) else REDACTED
            for v in value
        ]
    return REDACTED  # "k1=v1,k2=v2" as OTEL_EXPORTER_OTLP_HEADERS writes them
