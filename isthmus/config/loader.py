"""Load a config file: YAML with line numbers -> schema -> cross checks -> frozen Config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic

from isthmus.config import checks
from isthmus.config.any_protocol import AnyProtocolBackend
from isthmus.config.errors import ConfigError, ConfigIssue
from isthmus.config.model import Config
from isthmus.config.yaml_source import YamlDocument, YamlSyntaxError, load_yaml


def load_config(path: str | Path) -> Config:
    """Read, validate and freeze a config file; raise :class:`ConfigError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(str(path), None, "", f"cannot read file: {exc}")]) from None
    return parse_config(text, str(path), path.resolve().parent)


def parse_config(text: str, filename: str, base_dir: Path) -> Config:
    try:
        doc = load_yaml(text)
    except YamlSyntaxError as exc:
        raise ConfigError([ConfigIssue(filename, exc.line, "", exc.reason)]) from None
    issues = [ConfigIssue(filename, line, _dotted(p), reason) for p, line, reason in doc.problems]
    if not isinstance(doc.data, dict):
        issues.append(ConfigIssue(filename, doc.line_of(()), "", "top level must be a mapping"))
        raise ConfigError(issues)
    config = None
    context = {"base_dir": str(base_dir)}
    try:
        config = Config.model_validate(doc.data, context=context)
    except pydantic.ValidationError as exc:
        issues.extend(_schema_issues(exc, doc, filename, context))
    for p, reason in checks.check(doc.data, base_dir):
        issues.append(ConfigIssue(filename, doc.line_of(p), _dotted(p), reason))
    if issues or config is None:
        raise ConfigError(sorted(set(issues), key=lambda i: (i.line or 0, i.path, i.reason)))
    return config


def _schema_issues(
    exc: pydantic.ValidationError, doc: YamlDocument, filename: str, context: dict[str, str], at: FieldPath = ()
) -> list[ConfigIssue]:
    out = []
    for err in exc.errors(include_url=False):
        path = _data_path((*at, *err["loc"]), doc.data)
        reason = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            reason = f"unknown field '{path[-1]}'"
        elif err["type"] == "missing":
            reason = f"missing required field '{path[-1]}'"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            out += _without_protocol(err["input"], path, doc, filename, context)
            if err["type"] == "union_tag_not_found":
                reason = "missing field 'protocol'"
            else:
                path = (*path, "protocol")
                reason = f"unknown protocol {err['input'].get('protocol')!r}; expected {err['ctx']['expected_tags']}"
        out.append(ConfigIssue(filename, doc.line_of(path), _dotted(path), reason))
    return out


def _without_protocol(
    backend: Any, path: FieldPath, doc: YamlDocument, filename: str, context: dict[str, str]
) -> list[ConfigIssue]:
    """A backend whose protocol is unknown or missing: its other fields checked against every
    protocol's (:mod:`isthmus.config.any_protocol`), so their errors are reported in the same run."""
    try:
        AnyProtocolBackend.model_validate(backend, context=context)
    except pydantic.ValidationError as exc:
        return _schema_issues(exc, doc, filename, context, at=path)
    return []


FieldPath = tuple[str | int, ...]


def _data_path(loc: tuple[Any, ...], data: Any) -> FieldPath:
    """Drop pydantic's union-tag segments so the path names real document fields."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part in {node.get("protocol")}:
            continue
        else:
            node = None
        path.append(part)
    return tuple(path)


def _dotted(path: FieldPath) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out
