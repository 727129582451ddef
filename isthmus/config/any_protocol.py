"""A backend checked without its protocol: the fields of every protocol, none required but ``name``.

When a backend's ``protocol`` is unknown or missing, pydantic stops at the tag and says nothing of
the backend's other fields. The loader checks such a backend against this model too, so one run
also reports a misspelt field (unknown to every protocol) and a bad value (``timeout: -5s``).
Built from the protocols' own models, so it never drifts from them.
"""

from __future__ import annotations

import copy
from typing import Any, get_args

from pydantic import BaseModel, create_model
from pydantic.fields import FieldInfo

from isthmus.config.model import BackendConfig, _Frozen

#: The backend models, one per ``protocol`` (a model may serve several: kserve-v1 and kserve-v2).
BACKEND_MODELS: tuple[type[BaseModel], ...] = get_args(get_args(BackendConfig)[0])
PROTOCOLS: frozenset[str] = frozenset(
    tag for m in BACKEND_MODELS for tag in get_args(m.model_fields["protocol"].annotation)
)


def _optional(info: FieldInfo) -> FieldInfo:
    out = copy.copy(info)
    out.default, out.default_factory = None, None
    return out


def _any_protocol_model() -> type[BaseModel]:
    fields: dict[str, Any] = {"protocol": (Any, None)}
    for model in BACKEND_MODELS:
        for name, info in model.model_fields.items():
            if name not in fields:
                fields[name] = (info.annotation, info if name == "name" else _optional(info))
    return create_model("AnyProtocolBackend", __base__=_Frozen, **fields)


AnyProtocolBackend = _any_protocol_model()
