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

import math
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

import jsonpointer
import orjson

from isthmus.codecs.arrays import datatype_of, values_to_array
from isthmus.codecs.convert import nested_list
from isthmus.codecs.errors import CodecError
from isthmus.codecs.tensors import InferRequest, InferResponse, Tensor, TensorNaming
from isthmus.codecs.v2 import loads

APPEND = "-"  # RFC 6901: the (nonexistent) element after an array's last one
_SHOWN_KEYS = 8


class MappingError(ValueError):
    """A mapping cannot be compiled (bad pointer, template not JSON, pointers that collide)."""


def parse_pointer(text: Any) -> tuple[str, ...]:
    """An RFC 6901 pointer's reference tokens, unescaped (``""`` -> ``()``: the whole document)."""
    if not isinstance(text, str):
        raise MappingError(f"a JSON pointer must be a string, got {type(text).__name__}")
    try:
        return tuple(jsonpointer.JsonPointer(text).parts)
    except jsonpointer.JsonPointerException as exc:
        raise MappingError(f"bad JSON pointer {text!r}: {exc} (write /key/0/key; ~1 for '/', ~0 for '~')") from None


def pointer_text(parts: Iterable[str]) -> str:
    """The pointer for ``parts``, escaped (``("a/b",)`` -> ``"/a~1b"``)."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def check_json(value: Any, where: str = "") -> None:
    """Raise :class:`MappingError` unless ``value`` is plain JSON (finite numbers, string keys)."""
    if value is None or isinstance(value, bool | str | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MappingError(f"{where or '/'}: {value} is not a JSON number")
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            check_json(v, f"{where}/{i}")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise MappingError(f"{where or '/'}: key {k!r} is not a string")
            check_json(v, f"{where}/{pointer_text((k,))[1:]}")
        return
    raise MappingError(f"{where or '/'}: a {type(value).__name__} is not a JSON value")


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
    """Check a request mapping once: ``body`` is the template, ``inputs`` maps tensor names to pointers.

    Every pointer must be valid, land inside the template (missing objects on the way are
    created; through an array only by an existing index; ``-`` appends), and no pointer may
    be another's prefix. ``""`` (the whole body) is allowed for a sole input with no template.
    """
    if not inputs:
        raise MappingError("give at least one input: name -> JSON pointer into the body")
    check_json(body)
    skeleton = orjson.loads(orjson.dumps(body))
    targets = []
    for name, text in inputs.items():
        if not isinstance(name, str) or not name:
            raise MappingError("input names must be non-empty strings")
        parts = parse_pointer(text)
        if not parts:
            if len(inputs) > 1 or body not in ({}, None):
                raise MappingError(f"input '{name}' is the whole body (\"\"): it must be the only input, with no body")
        else:
            _prepare(skeleton, parts, name)
        targets.append((name, parts))
    _no_overlap(targets, "input")
    return RequestMap(orjson.dumps(skeleton), tuple(targets))


def _prepare(doc: Any, parts: tuple[str, ...], name: str) -> None:
    """Create the objects ``parts`` goes through in the template, or say why it cannot go there."""
    node = doc
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = pointer_text(parts[:depth]) or "the body"
        if isinstance(node, dict):
            if last:
                return
            node = node.setdefault(part, {})
        elif isinstance(node, list):
            if part == APPEND and last:
                return
            index = _index(part)
            if index is None or index >= len(node):
                raise MappingError(
                    f"input '{name}': {pointer_text(parts)}: {here} is an array of {len(node)} in the body; "
                    f"'{part}' must be an index below {len(node)}" + (" or '-' (append)" if last else "")
                )
            if last:
                return
            node = node[index]
        else:
            raise MappingError(
                f"input '{name}': {pointer_text(parts)} goes through {here}, which is "
                f"{_kind(node)} in the body, not an object or array"
            )


def _no_overlap(targets: list[tuple[str, tuple[str, ...]]], what: str) -> None:
    for i, (a, pa) in enumerate(targets):
        for b, pb in targets[:i]:
            if pa == pb and pa[-1:] == (APPEND,):
                continue  # two appends to one array: both go in, in config order
            if pa[: len(pb)] == pb or pb[: len(pa)] == pa:
                raise MappingError(
                    f"{what}s '{b}' ({_shown(pb)}) and '{a}' ({_shown(pa)}) overlap: one would overwrite the other"
                )


def _shown(parts: tuple[str, ...]) -> str:
    return pointer_text(parts) or '""'


def _place(doc: Any, parts: tuple[str, ...], value: Any) -> None:
    """Set ``value`` at ``parts`` (the template was prepared by :func:`_prepare`)."""
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
    """Check a response mapping once: output tensor names to pointers into the answer."""
    if not outputs:
        raise MappingError("give at least one output: name -> JSON pointer into the answer")
    sources = []
    for name, text in outputs.items():
        if not isinstance(name, str) or not name:
            raise MappingError("output names must be non-empty strings")
        sources.append((name, parse_pointer(text)))
    return ResponseMap(tuple(sources))


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
            index = _index(part)
            if index is None or index >= len(node):
                raise CodecError(
                    f"response of backend '{backend}' has nothing at {pointer_text(parts)}: "
                    f"{here} is an array of {len(node)}"
                )
            node = node[index]
        else:
            raise CodecError(
                f"response of backend '{backend}' has nothing at {pointer_text(parts)}: {here} is {_kind(node)}"
            )
    return node


def _index(part: str) -> int | None:
    """An RFC 6901 array index: digits, no leading zero (``0`` itself is fine)."""
    if part.isdigit() and part.isascii() and (part == "0" or part[0] != "0"):
        return int(part)
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def _keys(node: Mapping[str, Any]) -> str:
    if not node:
        return "no members"
    shown = [repr(k[:40]) for k in list(node)[:_SHOWN_KEYS]]
    more = f" and {len(node) - _SHOWN_KEYS} more" if len(node) > _SHOWN_KEYS else ""
    return ", ".join(shown) + more


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)
