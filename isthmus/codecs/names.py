"""Tensor names: well-formed when decoded, and known to the model before a call.

Pure functions. A name is any non-empty string without control characters (C0, DEL, C1): a NUL
or a newline in a name is never meant, and would reach backends' logs, file paths and error
messages as-is. Anything else (``../x``, spaces, non-ASCII) is a well-formed name that the model
then has or has not: :func:`check_known` says which.
"""

from __future__ import annotations

import re
from typing import Any, Collection, Iterable

from isthmus.codecs.errors import CodecError

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_name(name: Any, field: str, index: int) -> str:
    """``name`` if it is a non-empty string without control characters, else :class:`CodecError`
    naming ``{field}[{index}]`` (e.g. ``inputs[0]``).

    ``str.isprintable`` is the fast path (~50 ns); the regex only runs on the rare names it flags
    (it also flags spaces other than ' ' and format characters, which are allowed).
    """
    if type(name) is not str or not name:
        raise CodecError(f"{field}[{index}]: 'name' must be a non-empty string")
    if not name.isprintable():
        found = _CONTROL.search(name)
        if found is not None:
            raise CodecError(
                f"{field}[{index}]: 'name' {name!r} contains the control character U+{ord(found.group()):04X}; "
                "tensor names cannot contain control characters"
            )
    return name


def check_known(names: Iterable[str], known: Collection[str], model: str) -> None:
    """Each of ``names`` (the request's inputs) is one of ``known`` (the model's), else :class:`CodecError`:
    ``unknown input 'x' (model 'm' has inputs: input-0)``."""
    for name in names:
        if name not in known:
            raise CodecError(f"unknown input {name!r} (model {model!r} has inputs: {', '.join(known)})")
