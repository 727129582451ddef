"""A short terminal summary of a v1 load-test report: rich tables on a TTY, plain text otherwise.

Both forms are built from the same rows (``summary_rows``), so they always say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

PCTS = ("p50", "p90", "p99", "p99.9", "max", "mean")


@dataclass(frozen=True)
class Section:
    title: str
    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""  # one line printed under the table


def _n(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return (f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}") + unit
    return f"{v:,}{unit}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def summary_rows(report: dict[str, Any]) -> list[Section]:
    rate, tot = report["rate"], report["totals"]
    out = [
        Section("Load", ("target rate", "achieved", "sent", "ok", "errors", "error ratio"),
                ((_n(rate["target"], "/s"), _n(rate["achieved"], "/s"), _n(tot["sent"]), _n(tot["ok"]),
                  _n(tot["errors"]), _pct(report["error_ratio"])),),
                f"{report['run']['target']} for {report['run']['duration_s']:g} s"),
        Section("Latency (ms)", ("", *PCTS),
                (("latency", *(_n(report["latency_ms"][p]) for p in PCTS)),
                 ("service time", *(_n(report["service_time_ms"][p]) for p in PCTS)))),
    ]
    if report["errors"]:
        out.append(Section("Errors", ("kind", "count"), tuple((k, _n(v)) for k, v in report["errors"].items())))
    out.extend(_variant_section(report))
    if report["capacity"]:
        out.append(_capacity_section(report["capacity"]))
    return out


def _variant_section(report: dict[str, Any]) -> list[Section]:
    split = report["split"]
    if not report["variants"] and not split:
        return []
    by_name = {v["name"]: v for v in (split or {}).get("variants", [])}
    ci = f"{split['confidence']:.0%} CI" if split else "CI"
    rows = []
    names = [v["name"] for v in report["variants"]] + [n for n in by_name if n not in
                                                      {v["name"] for v in report["variants"]}]
    measured = {v["name"]: v for v in report["variants"]}
    for name in names:
        v, s = measured.get(name), by_name.get(name)
        observed = s["observed_share"] if s else (v["share"] if v else None)
        rows.append((name, _n(v["count"] if v else 0), _pct(observed),
                     _pct(s["configured_share"]) if s else "-",
                     f"{s['ci_low']:.2%}-{s['ci_high']:.2%}" if s else "-",
                     ("yes" if s["inside"] else "NO") if s else "-",
                     _n(v["latency_ms"]["p50"]) if v else "-", _n(v["latency_ms"]["p99"]) if v else "-"))
    note = ""
    if split:
        verdict = "consistent with" if split["consistent"] else "DIFFERS FROM"
        stat = (f"chi2={split['chi_square']:.3g}, df={split['df']}, p={split['p_value']:.3g}"
                if split["p_value"] is not None else "no chi-square test (fewer than two weighted variants)")
        note = f"split {verdict} the configured weights ({stat})"
        if split["small_sample"]:
            note += "; few requests: the p-value is approximate"
        if split["unexpected"]:
            note += "; also answered by: " + ", ".join(f"{k} ({c})" for k, c in split["unexpected"].items())
    return [Section("Variants", ("variant", "responses", "observed", "configured", ci, "inside", "p50 ms", "p99 ms"),
                    tuple(rows), note)]


def _capacity_section(cap: dict[str, Any]) -> Section:
    names = [o["name"] for o in cap["slo"]["latency"]]
    rows = tuple((_n(t["rate"], "/s"), "pass" if t["passed"] else "FAIL", *(_n(t["latency_ms"][n]) for n in names),
                  _pct(t["error_ratio"]), t["detail"]) for t in cap["trials"])
    slo = ", ".join(f"{o['name']}<={o['limit_ms']:g}ms" for o in cap["slo"]["latency"])
    slo += f", errors<={cap['slo']['error_budget']:.3%}"
    if cap["capacity_rps"] is None:
        answer = f"no tested rate met the SLO ({slo}); failed on {cap['binding']}"
    else:
        answer = f"capacity {cap['capacity_rps']:,.0f} requests/s for {slo}; bound by {cap['binding']}"
    if not cap["converged"]:
        answer += " (search did not converge)"
    return Section("Capacity trials", ("rate", "result", *(f"{n} ms" for n in names), "errors", "why"), rows, answer)


def summary_text(report: dict[str, Any]) -> str:
    """Plain text, aligned columns, for logs and pipes."""
    lines: list[str] = []
    for sec in summary_rows(report):
        table = [sec.head, *sec.rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(sec.head))]
        lines.append(f"{sec.title}:")
        for i, row in enumerate(table):
            cells = [c.ljust(w) if j == 0 or sec.head[j] == "why" else c.rjust(w)
                     for j, (c, w) in enumerate(zip(row, widths))]
            lines.append(("  " + "  ".join(cells)).rstrip())
            if i == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        if sec.note:
            lines.append(f"  {sec.note}")
        lines.append("")
    return "\n".join(lines)


def summary_tables(report: dict[str, Any]) -> list[Table]:
    """The same sections as rich tables (the note is the table's caption)."""
    tables = []
    for sec in summary_rows(report):
        table = Table(title=sec.title, title_justify="left", caption=sec.note or None, caption_justify="left")
        for i, head in enumerate(sec.head):
            table.add_column(head, justify="left" if i == 0 or head == "why" else "right")
        for row in sec.rows:
            table.add_row(*(f"[bold red]{c}[/]" if c in ("FAIL", "NO") else escape(c) for c in row))
        tables.append(table)
    return tables


def print_summary(report: dict[str, Any], file: TextIO) -> None:
    """Rich tables when ``file`` is a terminal, plain text otherwise."""
    if file.isatty():
        console = Console(file=file)
        for table in summary_tables(report):
            console.print(table)
    else:
        file.write(summary_text(report))
