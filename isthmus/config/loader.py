"""Load a config file: YAML with line numbers -> schema -> cross checks -> frozen Config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic

from isthmus.config import checks
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
    try:
        config = Config.model_validate(doc.data, context={"base_dir": str(base_dir)})
    except pydantic.ValidationError as exc:
        issues.extend(_schema_issues(exc, doc, filename))
    for p, reason in checks.check(doc.data, base_dir):
        issues.append(ConfigIssue(filename, doc.line_of(p), _dotted(p), reason))
    if issues or config is None:
        raise ConfigError(sorted(set(issues), key=lambda i: (i.line or 0, i.path, i.reason)))
    return config


def _schema_issues(exc: pydantic.ValidationError, doc: YamlDocument, filename: str) -> list[ConfigIssue]:
    out = []
    for err in exc.errors(include_url=False):
        path = _data_path(err["loc"], doc.data)
        reason = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            reason = f"unknown field '{path[-1]}'"
        elif err["type"] == "missing":
            reason = f"missing required field '{path[-1]}'"
        elif err["type"] == "union_tag_invalid":
            path = (*path, "protocol")
            reason = f"unknown protocol {err['input'].get('protocol')!r}; expected {err['ctx']['expected_tags']}"
        elif err["type"] == "union_tag_not_found":
            reason = "missing field 'protocol'"
        out.append(ConfigIssue(filename, doc.line_of(path), _dotted(path), reason))
    return out


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[str | int, ...]:
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


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out
