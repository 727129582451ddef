"""JSON pointers (RFC 6901) and the checks of a free-form JSON mapping, done once at load time.

Pure and shared: the config validates ``request`` / ``response`` mappings with these (so
``isthmus validate`` names a bad pointer at its line) and :mod:`isthmus.codecs.jsonmap` builds its
request and response maps from what they return. Pointers are parsed by the ``jsonpointer``
library; the walks over a template are written here so error messages never quote a document.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import jsonpointer
import orjson

APPEND = "-"  # RFC 6901: the (nonexistent) element after an array's last one

Targets = tuple[tuple[str, tuple[str, ...]], ...]  # (tensor name, pointer parts), in config order


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


def request_targets(body: Any, inputs: Mapping[str, str]) -> tuple[bytes, Targets]:
    """Check a request mapping once: ``body`` is the template, ``inputs`` maps tensor names to pointers;
    returns the template with every container the pointers go through, and the targets.

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
    return orjson.dumps(skeleton), tuple(targets)


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
            index = array_index(part)
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
                f"{kind_of(node)} in the body, not an object or array"
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


def response_sources(outputs: Mapping[str, str]) -> Targets:
    """Check a response mapping once: output tensor names to pointers into the answer."""
    if not outputs:
        raise MappingError("give at least one output: name -> JSON pointer into the answer")
    sources = []
    for name, text in outputs.items():
        if not isinstance(name, str) or not name:
            raise MappingError("output names must be non-empty strings")
        sources.append((name, parse_pointer(text)))
    return tuple(sources)


def array_index(part: str) -> int | None:
    """An RFC 6901 array index: digits, no leading zero (``0`` itself is fine)."""
    if part.isdigit() and part.isascii() and (part == "0" or part[0] != "0"):
        return int(part)
    return None


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"
