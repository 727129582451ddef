"""A live progress line while a load runs (rich): target vs achieved rate, ok/errors, recent latency.

Off when stdout is not a terminal or with ``--quiet``; ``update`` is then a no-op, so the engine
never needs to know whether anyone is watching.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from isthmus.loadtest.engine import Tick
from isthmus.loadtest.schedule import Profile


def _ms(us: int) -> str:
    return f"{us / 1000:.2f} ms"


def render(tick: Tick, profile: Profile, previous: Tick | None) -> Table:
    """One row: elapsed, target and achieved rate, counts, p50/p99 of the last complete interval."""
    done = tick.ok + sum(tick.errors.values())
    if previous is not None and tick.elapsed_s > previous.elapsed_s:
        prev_done = previous.ok + sum(previous.errors.values())
        achieved = (done - prev_done) / (tick.elapsed_s - previous.elapsed_s)
    else:
        achieved = done / tick.elapsed_s if tick.elapsed_s > 0 else 0.0
    table = Table(box=None, pad_edge=False)
    for head in ("elapsed", "target/s", "achieved/s", "sent", "ok", "errors", "p50", "p99"):
        table.add_column(head, justify="right")
    w = tick.window
    has_latency = w is not None and w.latency.get_total_count() > 0
    errors = ", ".join(f"{k} {v}" for k, v in sorted(tick.errors.items())) or "0"
    table.add_row(
        f"{tick.elapsed_s:.0f}s / {profile.duration_s:.0f}s",
        f"{profile.rate_at(max(tick.elapsed_s - 1e-9, 0)):,.0f}",
        f"{achieved:,.0f}",
        f"{tick.sent:,}",
        f"{tick.ok:,}",
        errors,
        _ms(w.latency.get_value_at_percentile(50)) if has_latency and w else "-",
        _ms(w.latency.get_value_at_percentile(99)) if has_latency and w else "-",
    )
    return table


class ProgressDisplay:
    """``with ProgressDisplay(profile) as p: run(on_tick=p.update)``."""

    def __init__(self, profile: Profile, *, quiet: bool = False, file: TextIO | None = None) -> None:
        self.profile = profile
        self.file = file or sys.stdout
        self.enabled = not quiet and self.file.isatty()
        self._live: Live | None = None
        self._previous: Tick | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            self._live = Live(console=Console(file=self.file), auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def update(self, tick: Tick) -> None:
        if self._live is None:
            return
        self._live.update(render(tick, self.profile, self._previous), refresh=True)
        self._previous = tick

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None
