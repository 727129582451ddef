"""What a load-test run measured, in a form that merges exactly across worker processes.

Latencies are microseconds in HDR histograms. ``latency`` is measured from each
request's *intended* send time (free of coordinated omission); ``service_time``
from the moment it was actually written to the socket. Errors are counted by
kind and never recorded in a latency histogram.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 120_000_000  # 2 minutes
SIGNIFICANT_FIGURES = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def encode_histogram(h: HdrHistogram) -> str:
    return h.encode().decode("ascii")


def decode_histogram(text: str) -> HdrHistogram:
    h = new_histogram()
    h.add(HdrHistogram.decode(text.encode("ascii")))
    return h


@dataclass
class Interval:
    """One time slice (normally one second) of a run, by intended send time."""

    start_s: float  # seconds since the run's start
    sent: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: HdrHistogram = field(default_factory=new_histogram)

    def merge(self, other: Interval) -> None:
        self.sent += other.sent
        self.ok += other.ok
        self.errors.update(other.errors)
        self.latency.add(other.latency)


@dataclass
class RunResult:
    """One run at one load profile. ``merge`` adds another worker's result of the same run."""

    target: str
    profile: dict[str, Any]
    started_at: float  # unix time
    duration_s: float
    intended: int = 0  # requests the schedule asked for
    sent: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # "connect", "timeout", "http_503", ...
    latency: HdrHistogram = field(default_factory=new_histogram)
    service_time: HdrHistogram = field(default_factory=new_histogram)
    variants: dict[str, HdrHistogram] = field(default_factory=dict)  # x-isthmus-backend -> latency
    variant_counts: Counter[str] = field(default_factory=Counter)
    intervals: list[Interval] = field(default_factory=list)
    interval_s: float = 1.0

    def merge(self, other: RunResult) -> None:
        self.duration_s = max(self.duration_s, other.duration_s)
        self.started_at = min(self.started_at, other.started_at)
        self.intended += other.intended
        self.sent += other.sent
        self.ok += other.ok
        self.errors.update(other.errors)
        self.latency.add(other.latency)
        self.service_time.add(other.service_time)
        self.variant_counts.update(other.variant_counts)
        for name, h in other.variants.items():
            self.variants.setdefault(name, new_histogram()).add(h)
        by_start = {round(i.start_s / self.interval_s): i for i in self.intervals}
        for iv in other.intervals:
            key = round(iv.start_s / self.interval_s)
            if key in by_start:
                by_start[key].merge(iv)
            else:
                copy = Interval(iv.start_s)
                copy.merge(iv)
                by_start[key] = copy
        self.intervals = [by_start[k] for k in sorted(by_start)]

    @property
    def achieved_rate(self) -> float:
        """Completed requests (ok + errors) per second."""
        done = self.ok + sum(self.errors.values())
        return done / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def error_ratio(self) -> float:
        done = self.ok + sum(self.errors.values())
        return sum(self.errors.values()) / done if done else 0.0

    def to_wire(self) -> dict[str, Any]:
        """Lossless JSON-able form, for passing between worker processes."""
        return {
            "target": self.target,
            "profile": self.profile,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "intended": self.intended,
            "sent": self.sent,
            "ok": self.ok,
            "errors": dict(self.errors),
            "latency": encode_histogram(self.latency),
            "service_time": encode_histogram(self.service_time),
            "variants": {k: encode_histogram(v) for k, v in self.variants.items()},
            "variant_counts": dict(self.variant_counts),
            "interval_s": self.interval_s,
            "intervals": [
                {"start_s": i.start_s, "sent": i.sent, "ok": i.ok, "errors": dict(i.errors),
                 "latency": encode_histogram(i.latency)}
                for i in self.intervals
            ],
        }

    @classmethod
    def from_wire(cls, doc: dict[str, Any]) -> RunResult:
        return cls(
            target=doc["target"],
            profile=doc["profile"],
            started_at=doc["started_at"],
            duration_s=doc["duration_s"],
            intended=doc["intended"],
            sent=doc["sent"],
            ok=doc["ok"],
            errors=Counter(doc["errors"]),
            latency=decode_histogram(doc["latency"]),
            service_time=decode_histogram(doc["service_time"]),
            variants={k: decode_histogram(v) for k, v in doc["variants"].items()},
            variant_counts=Counter(doc["variant_counts"]),
            interval_s=doc["interval_s"],
            intervals=[
                Interval(i["start_s"], i["sent"], i["ok"], Counter(i["errors"]), decode_histogram(i["latency"]))
                for i in doc["intervals"]
            ],
        )
