"""Free-form JSON bodies: tensors put into a request, and read out of an answer, by JSON pointers.

A backend that speaks its own JSON (a Ray Serve deployment's ``{"input": ...}`` ->
``{"output": ...}``, any JSON-over-HTTP model) is described by two maps:

- a :class:`RequestMap`: a fixed body (a JSON template) and, per input tensor name, the
  JSON pointer (RFC 6901) where that tensor's nested list goes;
- a :class:`ResponseMap`: per output tensor name, the JSON pointer where it is in the answer.

Both are compiled once (from the config) and raise :class:`MappingError` there, naming what is
wrong; at request time they raise :class:`CodecError`. Pointer syntax (``~0``/``~1`` escapes,
``/`` separators) is parsed by the ``jsonpointer`` library; the walk over a document is written
here so that an error names the pointer and the keys it found, and never quotes the document.
Pure functions and immutable values, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

import orjson

from isthmus.codecs.arrays import datatype_of, values_to_array
from isthmus.codecs.convert import nested_list
from isthmus.codecs.errors import CodecError
from isthmus.codecs.tensors import InferRequest, InferResponse, Tensor, TensorNaming
from isthmus.codecs.v2 import loads
from isthmus.common.json_pointers import (
    APPEND,
    array_index,
    kind_of,
    pointer_text,
    request_targets,
    response_sources,
)

_SHOWN_KEYS = 8


@dataclass(frozen=True, slots=True)
class RequestMap:
    """Where each input tensor goes in the body sent to the backend (build with :func:`compile_request`)."""

    template: bytes  # the body's fixed part, with every container the pointers go through
    targets: tuple[tuple[str, tuple[str, ...]], ...]  # (input name, pointer parts), in config order

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.targets)

    def encode(self, request: InferRequest) -> bytes:
        """The body for ``request``: the template with each input's values placed at its pointer.

        V2 tensors are matched by name (a missing or unknown name is a :class:`CodecError`); V1
        ``instances`` are placed as they are for one input, or split into columns (a list of
        objects keyed by the input names) for several.
        """
        values = _input_values(request, self.names)
        if len(self.targets) == 1 and not self.targets[0][1]:
            return orjson.dumps(values[self.targets[0][0]])  # the body is the input itself
        doc = orjson.loads(self.template)
        for name, parts in self.targets:
            _place(doc, parts, values[name])
        return orjson.dumps(doc)


def compile_request(body: Any, inputs: Mapping[str, str]) -> RequestMap:
    """A request map, checked once (:func:`isthmus.common.json_pointers.request_targets`)."""
    return RequestMap(*request_targets(body, inputs))


def _place(doc: Any, parts: tuple[str, ...], value: Any) -> None:
    """Set ``value`` at ``parts`` (the template was prepared by :func:`request_targets`)."""
    node = doc
    for part in parts[:-1]:
        node = node[part] if isinstance(node, dict) else node[int(part)]
    key = parts[-1]
    if isinstance(node, dict):
        node[key] = value
    elif key == APPEND:
        node.append(value)
    else:
        node[int(key)] = value


def _input_values(request: InferRequest, names: tuple[str, ...]) -> dict[str, Any]:
    if request.inputs is not None:
        given = {t.name: t for t in request.inputs}
        unknown = [n for n in given if n not in names]
        if unknown:
            raise CodecError(f"unknown input {_names(unknown)}: this model takes {_names(names)}")
        missing = [n for n in names if n not in given]
        if missing:
            raise CodecError(f"missing input {_names(missing)}: this model takes {_names(names)}")
        try:
            return {n: nested_list(given[n]) for n in names}
        except UnicodeDecodeError:
            raise CodecError("a BYTES input is not valid UTF-8 and cannot be sent as JSON") from None
    instances = request.instances if request.instances is not None else []
    if len(names) == 1:
        return {names[0]: instances}
    if not instances or not all(isinstance(row, dict) and set(row) == set(names) for row in instances):
        raise CodecError(f"instances must be objects with the keys {_names(names)}: this model takes several inputs")
    return {n: [row[n] for row in instances] for n in names}


@dataclass(frozen=True, slots=True)
class ResponseMap:
    """Where each output tensor is in the backend's answer (build with :func:`compile_response`)."""

    sources: tuple[tuple[str, tuple[str, ...]], ...]  # (output name, pointer parts), in config order

    def decode(self, body: bytes, backend: str, naming: TensorNaming) -> InferResponse:
        """The outputs found at the pointers, typed by ``naming.datatype``.

        One output whose value is a list is kept as JSON (``predictions``): a V1 app gets it
        verbatim, a V2 app gets it as a tensor named after the output. Otherwise each output
        becomes a tensor now. A pointer that finds nothing is a :class:`CodecError`.
        """
        doc = loads(body, f"response of backend '{backend}'")
        if len(self.sources) == 1:
            name, parts = self.sources[0]
            value = _resolve(doc, parts, backend)
            if isinstance(value, list):
                named = naming if naming.output_name == name else replace(naming, output_name=name)
                return InferResponse(predictions=value, naming=named)
        tensors = []
        for name, parts in self.sources:
            value = _resolve(doc, parts, backend)
            arr = values_to_array(value, naming.datatype, f"output '{name}' (at {pointer_text(parts) or 'the root'})")
            tensors.append(Tensor(name, datatype_of(arr, name), arr))
        return InferResponse(outputs=tuple(tensors), naming=naming)


def compile_response(outputs: Mapping[str, str]) -> ResponseMap:
    """A response map, checked once (:func:`isthmus.common.json_pointers.response_sources`)."""
    return ResponseMap(response_sources(outputs))


def _resolve(doc: Any, parts: tuple[str, ...], backend: str) -> Any:
    node = doc
    for depth, part in enumerate(parts):
        here = pointer_text(parts[:depth]) or "the answer"
        if isinstance(node, dict):
            if part not in node:
                raise CodecError(
                    f"response of backend '{backend}' has nothing at {pointer_text(parts)}: "
                    f"{here} has no member '{part}' (it has {_keys(node)})"
                )
            node = node[part]
        elif isinstance(node, list):
            index = array_index(part)
            if index is None or index >= len(node):
                raise CodecError(
                    f"response of backend '{backend}' has nothing at {pointer_text(parts)}: "
                    f"{here} is an array of {len(node)}"
                )
            node = node[index]
        else:
            raise CodecError(
                f"response of backend '{backend}' has nothing at {pointer_text(parts)}: {here} is {kind_of(node)}"
            )
    return node


def _keys(node: Mapping[str, Any]) -> str:
    if not node:
        return "no members"
    shown = [repr(k[:40]) for k in list(node)[:_SHOWN_KEYS]]
    more = f" and {len(node) - _SHOWN_KEYS} more" if len(node) > _SHOWN_KEYS else ""
    return ", ".join(shown) + more


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)
