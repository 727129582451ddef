"""A self-contained HTML page for a v1 load-test report, with matplotlib plots as PNG data URIs.

Rendered from the JSON report document (``report_json.build_report``), so a saved report can be
turned into a page later. Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas:
no pyplot, no global figure state.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any, Callable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

COLORS = {"p50": "#1f77b4", "p90": "#2ca02c", "p99": "#ff7f0e", "p99.9": "#d62728", "max": "#7f7f7f"}
_FALLBACK = ("#9467bd", "#8c564b", "#e377c2", "#17becf")


def _color(name: str, i: int = 0) -> str:
    return COLORS.get(name, _FALLBACK[i % len(_FALLBACK)])


def _figure() -> tuple[Figure, Any]:
    fig = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    return fig, ax


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _slo_limits(report: dict[str, Any]) -> dict[str, float]:
    cap = report.get("capacity")
    return {o["name"]: o["limit_ms"] for o in cap["slo"]["latency"]} if cap else {}


def plot_latency_over_time(report: dict[str, Any]) -> bytes | None:
    ivs = [iv for iv in report["intervals"] if iv["p50_ms"] is not None]
    if not ivs:
        return None
    fig, ax = _figure()
    width = report["run"]["interval_s"]
    t = [iv["start_s"] + width / 2 for iv in ivs]
    for name in ("p50", "p90", "p99", "max"):
        ax.plot(t, [iv[f"{name}_ms"] for iv in ivs], label=name, color=_color(name),
                linewidth=1 if name == "max" else 1.6, linestyle=":" if name == "max" else "-")
    for name, limit in _slo_limits(report).items():
        ax.axhline(limit, color=_color(name), linestyle="--", linewidth=1, label=f"SLO {name} ≤ {limit:g} ms")
    ax.set(title="Latency over time (from intended send time)", xlabel="time since start (s)", ylabel="latency (ms)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small", ncols=2)
    return _png(fig)


def _target_curve(profile: Any) -> tuple[list[float], list[float]] | None:
    """The target rate over time from a profile described as ``{"segments": [[from, to, seconds], ...]}``."""
    segments = profile.get("segments") if isinstance(profile, dict) else None
    if not isinstance(segments, list) or not segments:
        return None
    xs, ys, t = [], [], 0.0
    for seg in segments:
        if not (isinstance(seg, list | tuple) and len(seg) == 3 and all(isinstance(v, int | float) for v in seg)):
            return None
        xs += [t, t + seg[2]]
        ys += [seg[0], seg[1]]
        t += seg[2]
    return xs, ys


def plot_throughput_over_time(report: dict[str, Any]) -> bytes | None:
    ivs = report["intervals"]
    if not ivs:
        return None
    fig, ax = _figure()
    width = report["run"]["interval_s"]
    t = [iv["start_s"] + width / 2 for iv in ivs]  # lines at mid-interval; bars span their interval
    curve = _target_curve(report["run"]["profile"])
    if curve:
        ax.plot(*curve, color="black", linestyle="--", linewidth=1, label="target")
    elif report["rate"]["target"] is not None:
        ax.axhline(report["rate"]["target"], color="black", linestyle="--", linewidth=1, label="target (mean)")
    ax.plot(t, [iv["sent_rate"] for iv in ivs], label="sent", color="#1f77b4", linewidth=4, alpha=0.35)
    ax.plot(t, [iv["completed_rate"] for iv in ivs], label="completed", color="#2ca02c", linewidth=1.6)
    ax.plot(t, [iv["ok"] / width for iv in ivs], label="ok", color="#9467bd", linewidth=1.2, linestyle=":")
    handles, labels = ax.get_legend_handles_labels()
    errors = [iv["errors"] / width for iv in ivs]
    peak = max([iv["sent_rate"] or 0 for iv in ivs] + [report["rate"]["target"] or 0] + (curve[1] if curve else []))
    if any(errors):
        # a few errors get their own axis, else they would be invisible next to the request rate
        small = max(errors) < 0.05 * peak
        err_ax = ax.twinx() if small else ax
        bars = err_ax.bar(t, errors, width=width * 0.8, color="#d62728", alpha=0.35)
        if small:
            err_ax.set_ylabel("errors per second", color="#d62728")
            err_ax.tick_params(axis="y", colors="#d62728")
            err_ax.set_ylim(0, max(errors) * 4)
        handles.append(bars)
        labels.append("errors (right axis)" if small else "errors")
    ax.set(title="Throughput over time (by intended send time)", xlabel="time since start (s)",
           ylabel="requests per second")
    ax.set_ylim(bottom=0, top=peak * 1.4 or 1)
    ax.legend(handles, labels, loc="upper right", fontsize="small", ncols=len(labels))
    return _png(fig)


def plot_variant_latency(report: dict[str, Any]) -> bytes | None:
    variants = [v for v in report["variants"] if v["latency_ms"]["count"]]
    if not variants:
        return None
    fig, ax = _figure()
    names = ("p50", "p90", "p99", "p99.9")
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(variants))]
        values = [v["latency_ms"][name] for v in variants]
        bars = ax.bar(xs, values, width=width, color=_color(name), label=name)
        ax.bar_label(bars, fmt="%.3g", fontsize="x-small", padding=2)
    ax.set_xticks(range(len(variants)), [f"{v['name']}\n({v['count']:,} responses)" for v in variants])
    ax.set(title="Latency by variant (x-isthmus-backend)", ylabel="latency (ms)")
    ax.margins(y=0.15)
    ax.legend(loc="upper left", fontsize="small", ncols=4)
    return _png(fig)


def _minor_rate_label(x: float, _: Any) -> str:
    """Label the 2x and 5x minor ticks of a log rate axis (20, 50, 200, 500, ...)."""
    lead = x / 10 ** int(f"{x:e}".split("e")[1])
    return f"{x:,.0f}" if round(lead) in (2, 5) and abs(lead - round(lead)) < 1e-6 else ""


def plot_capacity_curve(report: dict[str, Any]) -> bytes | None:
    cap = report.get("capacity")
    if not cap or not cap["trials"]:
        return None
    fig, ax = _figure()
    trials = sorted(cap["trials"], key=lambda t: t["rate"])
    rates = [t["rate"] for t in trials]
    for i, obj in enumerate(cap["slo"]["latency"]):
        name, color = obj["name"], _color(obj["name"], i)
        values = [t["latency_ms"][name] for t in trials]
        ax.plot(rates, values, color=color, linewidth=1.2, label=name)
        ax.scatter([r for r, t in zip(rates, trials) if t["passed"]],
                   [v for v, t in zip(values, trials) if t["passed"]], color=color, marker="o", zorder=3)
        ax.scatter([r for r, t in zip(rates, trials) if not t["passed"]],
                   [v for v, t in zip(values, trials) if not t["passed"]], color=color, marker="x", s=50, zorder=3)
        ax.axhline(obj["limit_ms"], color=color, linestyle="--", linewidth=1, label=f"SLO {name} ≤ {obj['limit_ms']:g} ms")
    if cap["capacity_rps"] is not None:
        ax.axvline(cap["capacity_rps"], color="black", linewidth=1.2,
                   label=f"capacity {cap['capacity_rps']:,.0f}/s ({cap['binding']})")
    ax.scatter([], [], color="gray", marker="o", label="trial passed")
    ax.scatter([], [], color="gray", marker="x", label="trial failed")
    if max(rates) / min(rates) > 8:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(_minor_rate_label))
    top = max(max(t["latency_ms"].values(), default=0) for t in trials)
    low = min(min(t["latency_ms"].values(), default=1) for t in trials)
    if low > 0 and top / low > 30:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.set(title="Latency vs offered rate (capacity search)", xlabel="target rate (requests/s)",
           ylabel="latency (ms)")
    ax.legend(loc="upper left", fontsize="small", ncols=2)
    return _png(fig)


PLOTS: tuple[tuple[str, str, Callable[[dict[str, Any]], bytes | None]], ...] = (
    ("latency", "Latency percentiles over time", plot_latency_over_time),
    ("throughput", "Throughput: target vs achieved", plot_throughput_over_time),
    ("variants", "Latency by variant", plot_variant_latency),
    ("capacity", "Latency vs rate", plot_capacity_curve),
)


def render_plots(report: dict[str, Any]) -> dict[str, bytes]:
    """Plot name -> PNG bytes, for the plots the report has data for."""
    return {name: png for name, _, fn in PLOTS if (png := fn(report)) is not None}


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.3g}{unit}" if abs(v) < 100 else f"{v:,.0f}{unit}"
    return f"{v:,}{unit}" if isinstance(v, int) else escape(str(v)) + unit


def _table(head: list[str], rows: list[list[Any]], left: tuple[int, ...] = (0,)) -> str:
    """Numbers right-aligned; the columns in ``left`` (text) left-aligned."""
    def cls(i: int) -> str:
        return ' class="l"' if i in left else ""

    th = "".join(f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _sections(report: dict[str, Any]) -> list[str]:
    rate, tot, lat, svc = report["rate"], report["totals"], report["latency_ms"], report["service_time_ms"]
    pct = ("p50", "p90", "p99", "p99.9", "max", "mean")
    out = [
        "<h2>Totals</h2>" + _table(
            ["target rate", "achieved rate", "intended", "sent", "ok", "errors", "error ratio"],
            [[_fmt(rate["target"], "/s"), _fmt(rate["achieved"], "/s"), _fmt(tot["intended"]), _fmt(tot["sent"]),
              _fmt(tot["ok"]), _fmt(tot["errors"]), f"{report['error_ratio']:.3%}"]]),
        "<h2>Latency (ms)</h2>" + _table(["", *pct], [["latency", *(_fmt(lat[p]) for p in pct)],
                                                     ["service time", *(_fmt(svc[p]) for p in pct)]]),
    ]
    if report["errors"]:
        out.append("<h2>Errors</h2>" + _table(["kind", "count"], [[escape(k), _fmt(v)] for k, v in report["errors"].items()]))
    split = {v["name"]: v for v in (report["split"] or {}).get("variants", [])}
    if report["variants"] or split:
        conf = f"{report['split']['confidence']:.0%} CI" if report["split"] else "CI"
        rows = []
        for v in report["variants"]:
            s = split.get(v["name"])
            share = f"{s['observed_share']:.2%}" if s and s["observed_share"] is not None else _fmt(v["share"])
            rows.append([escape(v["name"]), _fmt(v["count"]), share,
                         f"{s['configured_share']:.2%}" if s else "–",
                         f"{s['ci_low']:.2%} – {s['ci_high']:.2%}" if s else "–",
                         ("yes" if s["inside"] else "<b>no</b>") if s else "–",
                         *(_fmt(v["latency_ms"][p]) for p in ("p50", "p99"))])
        out.append("<h2>Variants</h2>" + _table(["variant", "responses", "observed", "configured", conf, "inside",
                                                  "p50 ms", "p99 ms"], rows, left=(0, 5)))
        if report["split"]:
            s = report["split"]
            verdict = "consistent with" if s["consistent"] else "<b>differs from</b>"
            out.append(f"<p>Observed split {verdict} the configured weights: χ² = {_fmt(s['chi_square'])}, "
                       f"df = {s['df']}, p = {_fmt(s['p_value'])}.</p>")
    if report["capacity"]:
        c = report["capacity"]
        names = [o["name"] for o in c["slo"]["latency"]]
        answer = "no tested rate met the SLO" if c["capacity_rps"] is None else f"{c['capacity_rps']:,.0f} requests/s"
        out.append(f"<h2>Capacity</h2><p><b>{answer}</b>, bound by <b>{escape(c['binding'])}</b>"
                   f"{'' if c['converged'] else ' (search did not converge)'}.</p>" + _table(
                       ["rate", "phase", "result", *(f"{n} ms" for n in names), "errors", "achieved", "why"],
                       [[_fmt(t["rate"], "/s"), t["phase"], "pass" if t["passed"] else "<b>fail</b>",
                         *(_fmt(t["latency_ms"][n]) for n in names), f"{t['error_ratio']:.2%}",
                         _fmt(t["achieved_rate"], "/s"), escape(t["detail"])] for t in c["trials"]],
                       left=(1, 2, 5 + len(names))))
    return out


_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;padding:0 1em;max-width:1000px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}.l{text-align:left}img{max-width:100%;display:block;margin:.5em 0 1.5em}
.meta{color:#555}"""


def render_html(report: dict[str, Any], *, title: str | None = None) -> str:
    """The whole page as one string: tables, then the plots as embedded PNGs."""
    run = report["run"]
    title = title or f"Load test: {run['target']}"
    plots = render_plots(report)
    figures = "".join(
        f'<h2>{escape(caption)}</h2><img alt="{escape(caption)}" src="data:image/png;base64,'
        f'{base64.b64encode(plots[name]).decode("ascii")}">'
        for name, caption, _ in PLOTS if name in plots
    )
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{escape(title)}</h1>"
            f'<p class="meta">started {escape(run["started_at_iso"])} · {run["duration_s"]:g} s · '
            f'report schema {escape(report["schema"])}</p>' + "".join(_sections(report)) + figures + "</body></html>\n")
