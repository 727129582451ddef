"""The ingress's URL table: (method, path) -> endpoint name and path parameters. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Endpoint = Literal[
    "infer_v2", "predict_v1", "model_ready", "model_metadata", "model_ready_v1", "live", "ready", "server_metadata",
    # extensions (isthmus.gateway.rest_extensions)
    "model_config", "model_stats", "all_stats", "repository_index", "explain_v1", "models_v1", "live_v1",
    "classify_tfs", "regress_tfs", "metadata_tfs",
]
# TF Serving's REST API names a version by number or by label: /v1/models/{m}[/versions/{n}|/labels/{l}]
_TFS_MODEL = r"/v1/models/([^/:]+)(?:/versions/([^/:]+)|/labels/([^/:]+))?"

# Most frequent first: the inference endpoints are tried before anything else.
_TABLE: tuple[tuple[str, re.Pattern[str], Endpoint], ...] = (
    ("POST", re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer"), "infer_v2"),
    ("POST", re.compile(_TFS_MODEL + ":predict"), "predict_v1"),  # KServe V1 and TF Serving
    ("GET", re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/ready"), "model_ready"),
    # extensions (isthmus.gateway.rest_extensions); /v2/models/stats before a model's metadata, as Triton
    ("GET", re.compile(r"/v2/models/stats"), "all_stats"),
    ("GET", re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/config"), "model_config"),
    ("GET", re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/stats"), "model_stats"),
    ("POST", re.compile(r"/v2/repository/index"), "repository_index"),
    ("POST", re.compile(r"/v1/models/([^/:]+):explain"), "explain_v1"),
    ("GET", re.compile(r"/v1/models"), "models_v1"),
    ("GET", re.compile(r"/"), "live_v1"),
    ("GET", re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?"), "model_metadata"),
    ("GET", re.compile(_TFS_MODEL), "model_ready_v1"),  # KServe V1 readiness, TF Serving model status
    ("GET", re.compile(_TFS_MODEL + "/metadata"), "metadata_tfs"),
    ("POST", re.compile(_TFS_MODEL + ":classify"), "classify_tfs"),
    ("POST", re.compile(_TFS_MODEL + ":regress"), "regress_tfs"),
    ("GET", re.compile(r"/v2/health/live"), "live"),
    ("GET", re.compile(r"/v2/health/ready"), "ready"),
    ("GET", re.compile(r"/v2/?"), "server_metadata"),
)


@dataclass(frozen=True, slots=True)
class Match:
    endpoint: Endpoint
    model: str | None = None
    version: str | None = None
    label: str | None = None  # a TF Serving version label (/v1/models/{m}/labels/{l})


class NotFound(Exception):
    pass


class MethodNotAllowed(Exception):
    pass


class UrlTable:
    """:func:`resolve` with a bounded memo: a gateway sees few distinct (method, path) pairs."""

    def __init__(self, max_entries: int = 4096):
        self._memo: dict[tuple[str, str], Match] = {}
        self._max = max_entries

    def resolve(self, method: str, path: str) -> Match:
        key = (method, path)
        found = self._memo.get(key)
        if found is None:
            found = resolve(method, path)  # raises for unknown endpoints: those are not remembered
            if len(self._memo) >= self._max:
                self._memo.clear()
            self._memo[key] = found
        return found


def resolve(method: str, path: str) -> Match:
    """The endpoint for a request; raises :class:`NotFound` or :class:`MethodNotAllowed`."""
    other_method = False
    for m, pattern, endpoint in _TABLE:
        found = pattern.fullmatch(path)
        if found is None:
            continue
        if m != method and not (m == "GET" and method == "HEAD"):
            other_method = True
            continue
        groups = found.groups()
        return Match(endpoint, *groups) if groups else Match(endpoint)
    if other_method:
        raise MethodNotAllowed()
    raise NotFound()
