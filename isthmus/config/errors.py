"""Config errors: every problem found, each with file, line, field path and reason."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    file: str
    line: int | None
    path: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.reason}"


class ConfigError(Exception):
    """A config file is invalid. ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in issues))
