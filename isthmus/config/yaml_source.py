"""YAML loading that remembers the line of every field, for error messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass
class YamlDocument:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[tuple[Path, int, str]] = field(default_factory=list)

    def line_of(self, path: Path) -> int | None:
        """Line of the deepest known prefix of ``path`` (1-based)."""
        for n in range(len(path), -1, -1):
            line = self.lines.get(path[:n])
            if line is not None:
                return line
        return None


class YamlSyntaxError(Exception):
    def __init__(self, line: int | None, reason: str):
        self.line = line
        self.reason = reason
        super().__init__(reason)


def load_yaml(text: str) -> YamlDocument:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        line, reason = syntax_error_at(exc)
        raise YamlSyntaxError(line, reason) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    doc = YamlDocument(data=None)
    if node is None:
        doc.data = {}
        return doc
    doc.lines[()] = node.start_mark.line + 1
    doc.data = _build(node, (), doc, loader)
    return doc


#: PyYAML contexts that name something opened and never closed: its ``context_mark`` is where it
#: was opened (the line to fix), its ``problem_mark`` where the parser gave up (often the next line).
_OPENED = {
    "while parsing a flow sequence": "'[' is not closed",
    "while parsing a flow mapping": "'{' is not closed",
    "while scanning a quoted scalar": "the quote is not closed",
    "while scanning a simple key": "a key without ':'",
}


def syntax_error_at(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    """The line (1-based) to fix and the reason of a YAML syntax error.

    An unclosed bracket or quote, or a key with no ``:``, is reported at the line where it starts
    (PyYAML's ``context_mark``), naming where the parser stopped; every other error at the
    ``problem_mark`` (a tab, a bad indentation, a second document).
    """
    problem, where = exc.problem or str(exc), exc.problem_mark
    opened = _OPENED.get(exc.context or "")
    if opened is not None and exc.context_mark is not None:
        stopped = f" at line {where.line + 1}" if where is not None else ""
        return exc.context_mark.line + 1, f"invalid YAML: {opened} ({problem}{stopped})"
    if exc.context and not exc.context.startswith("while"):  # a sentence of its own: "expected a single document"
        problem = f"{exc.context}, {problem}"
    mark = where or exc.context_mark
    return (mark.line + 1 if mark is not None else None), f"invalid YAML: {problem}"


def _build(node: yaml.Node, path: Path, doc: YamlDocument, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            sub = (*path, key)
            if key in out:
                doc.problems.append((sub, key_node.start_mark.line + 1, f"duplicate key '{key}'"))
            doc.lines[sub] = key_node.start_mark.line + 1
            out[key] = _build(value_node, sub, doc, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            doc.lines[(*path, i)] = item.start_mark.line + 1
            items.append(_build(item, (*path, i), doc, loader))
        return items
    return loader.construct_object(node, deep=True)
