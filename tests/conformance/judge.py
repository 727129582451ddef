"""What a conforming answer is, for the conformance tests.

- A request the document allows gets either a 2xx whose body is valid against the operation's
  documented 200 schema, or a 4xx error object (the protocol answers errors on a valid-looking
  request — an unknown model, a tensor the model does not take — with a 4xx and an error object).
- A request the document does not allow gets a 4xx error object.
- An error object is ``{"error": "<non-empty text>"}`` served as ``application/json``; a 5xx, a
  redirect or a body that is not JSON is never conforming.

Violations are collected as text (one line each, with a curl to replay them) so a test run lists
every kind of failure at once instead of stopping at the first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.conformance.oip_spec import OK_SCHEMAS, error_object_errors, schema_errors


def parse_json(content: bytes, content_type: str) -> tuple[Any, str | None]:
    """(document, None) or (None, why it is not a JSON answer)."""
    if content_type.split(";")[0].strip().lower() != "application/json":
        return None, f"content-type {content_type!r} is not application/json"
    try:
        return json.loads(content), None
    except ValueError as exc:
        return None, f"body is not JSON ({exc}): {content[:120]!r}"


ANSWER, ANSWER_OR_ERROR, ERROR = "answer", "answer or error", "error"
"""What a request must get: a 2xx answer (nothing in it can be wrong: a health or metadata request
to a served model), an answer or a 4xx error object (allowed by the document, but it may name an
unknown model or a tensor the model does not take), or a 4xx error object (not allowed)."""


def judge(method: str, path: str, status: int, content_type: str, content: bytes, *, expect: str) -> list[str]:
    """Why this answer to ``method path`` does not conform (empty: it does)."""
    if status >= 500:
        doc, _ = parse_json(content, content_type)
        return [f"{status} (a server error) where {expect} was expected: {doc or content[:200]!r}"]
    if 200 <= status < 300:
        if expect == ERROR:
            return [f"{status} for a request the document does not allow (expected a 4xx error object)"]
        name = OK_SCHEMAS[(method, path)]
        if name is None:
            return []
        doc, why = parse_json(content, content_type)
        if why:
            return [f"{status}: {why}"]
        return [f"{status} body breaks {name}: {e}" for e in schema_errors(name, doc)]
    if 400 <= status < 500:
        if expect == ANSWER:
            return [f"{status} where a 2xx answer was expected: {content[:200]!r}"]
        doc, why = parse_json(content, content_type)
        if why:
            return [f"{status}: {why}"]
        return [f"{status} error body breaks {{\"error\": string}}: {e}" for e in error_object_errors(doc)]
    return [f"status {status} is neither a 2xx answer nor a 4xx error"]


@dataclass
class Violations:
    """Violations found over many generated requests, grouped by kind (the first example of each kept)."""

    kinds: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    requests: int = 0

    def add(self, problems: list[str], replay: str) -> None:
        self.requests += 1
        for p in problems:
            kind = p[:160]
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.kinds.setdefault(kind, replay)

    def report(self) -> str:
        lines = [f"{len(self.kinds)} kind(s) of non-conforming answer in {self.requests} requests:"]
        for kind, replay in self.kinds.items():
            lines.append(f"- {kind}  [x{self.counts[kind]}]\n    {replay[:600]}")
        return "\n".join(lines)
