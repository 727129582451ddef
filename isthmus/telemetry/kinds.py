"""Label values taken from requests: the ``model`` of every request metric (bounded to the
configured routes). The ``kind`` of ``isthmus.request.errors`` comes from the edge as a string
(:func:`isthmus.gateway.error_table.error_kind`): telemetry knows no other layer's exceptions."""

from __future__ import annotations

from typing import Container

#: The ``model`` label of a request naming no configured model.
UNKNOWN_MODEL = "-"


def model_label(model: str, routes: Container[str]) -> str:
    """``model`` when it is a configured route, else :data:`UNKNOWN_MODEL`: a name an app made up
    never becomes a label value (series stay bounded)."""
    return model if model in routes else UNKNOWN_MODEL
