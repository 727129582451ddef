"""The project's own load tester (``isthmus loadtest``) behind the bench's LoadGenerator interface."""

from __future__ import annotations

from pathlib import Path


class IsthmusLoadtestGenerator:
    name = "isthmus-loadtest"

    @staticmethod
    def unavailable(venv: Path) -> str | None:
        if not (venv.parent / "isthmus" / "loadtest" / "engine.py").exists():
            return "isthmus/loadtest/engine.py does not exist yet"
        return "adapter not written yet"

    def __init__(self, venv: Path, body_file: Path, cpus: str | None):
        raise NotImplementedError
