"""`earful backtest`: replay history through the detector with any settings; send nothing.

Reads hourly counts of a brand from the database (or any CSV of counts), replays them
through ``analysis.spikes`` and reports which episodes would have opened, when, how big,
and the alert rate that implies.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from analysis import spikes
from analysis.spike_replay import summarise
from collectors.base import iso, parse_iso, parse_time


class BacktestError(Exception):
    """Bad input for a backtest (a CSV that cannot be read, an empty series)."""


@dataclass
class Backtest:
    series: list[tuple[str, int, int]]
    events: list[dict[str, Any]] = field(default_factory=list)
    expected: list[float] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    warmup_buckets: int = 0  # the first buckets teach the baseline and cannot alert


def csv_params(has_negatives: bool) -> dict[str, Any]:
    """Detector settings for a CSV: a bare count has no share, so it is the negatives and
    only its volume is tested, with thresholds set by the top of its own history (every
    surge in it is one the budget pays for)."""
    if has_negatives:
        return {}
    return {"negatives_follow_volume": False, "share_test": False, "calibration_tail": "upper"}


def series_from_db(db: sqlite_utils.Database, brand: str, bucket_hours: float = 1.0,
                   since: str | None = None,
                   until: str | None = None) -> list[tuple[str, int, int]]:
    """Every bucket from the brand's first mention (or ``since``) up to ``until`` / the last."""
    rows = db.execute(
        "SELECT created_at, label = 'negative' FROM mention_sentiments WHERE brand = ? "
        "AND created_at >= ? AND created_at < ? ORDER BY created_at",
        [brand, since or "", until or "9999"]).fetchall()
    return _bucketise(((at, 1, int(bool(neg))) for at, neg in rows), bucket_hours)


def series_from_csv(path: Path,
                    bucket_hours: float = 1.0) -> tuple[list[tuple[str, int, int]], bool]:
    """``timestamp,value[,negatives]`` rows -> (series, whether negatives were given).

    Without a negatives column, value is taken as the negative count itself.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise BacktestError(f"{path}: empty file")
            names = [h.strip().lower() for h in header]
            if names[:2] != ["timestamp", "value"]:
                raise BacktestError(f"{path}: expected a header 'timestamp,value[,negatives]', "
                                    f"got {','.join(header)!r}")
            has_neg = len(names) > 2 and names[2] == "negatives"
            rows = []
            for line_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                at = parse_time(row[0].replace(" ", "T"))
                try:
                    value = int(float(row[1]))
                    neg = int(float(row[2])) if has_neg else value
                except (ValueError, IndexError):
                    raise BacktestError(f"{path}:{line_no}: not a number: {row!r}") from None
                if at is None:
                    raise BacktestError(f"{path}:{line_no}: not a timestamp: {row[0]!r}")
                rows.append((at, value, neg))
    except OSError as exc:
        raise BacktestError(f"{path}: {exc.strerror}") from None
    return _bucketise(rows, bucket_hours), has_neg


def _bucketise(rows: Any, bucket_hours: float) -> list[tuple[str, int, int]]:
    step = dt.timedelta(hours=bucket_hours)
    origin = dt.datetime(2000, 1, 3, tzinfo=dt.UTC)  # a Monday: buckets align to it
    counts: dict[dt.datetime, list[int]] = {}
    for at, n, y in rows:
        moment = parse_iso(at)
        bucket = origin + ((moment - origin) // step) * step
        pair = counts.setdefault(bucket, [0, 0])
        pair[0] += n
        pair[1] += y
    if not counts:
        return []
    out, moment, last = [], min(counts), max(counts)
    while moment <= last:  # empty buckets are data too: quiet hours teach the baseline
        n, y = counts.get(moment, (0, 0))
        out.append((iso(moment), n, y))
        moment += step
    return out


def run_backtest(series: list[tuple[str, int, int]], params: dict[str, Any],
                 storms: list[tuple[str, str]] | None = None) -> Backtest:
    if not series:
        raise BacktestError("no data to replay (no mentions for that brand and period)")
    p = {**spikes.DEFAULTS, **params}
    result = Backtest(series=series,
                      warmup_buckets=round(p["warmup_days"] * 24 / p["bucket_hours"]))
    state = spikes.new_state(params)
    for at, n, y in series:
        result.events.extend(spikes.step(state, at, n, y, params))
        result.expected.append(float(state.expected or 0.0))
    # Rates are over the scored span only: the warm-up cannot alert, so counting its days
    # would understate the false-alarm rate.
    first = series[min(result.warmup_buckets, len(series) - 1)][0]
    result.summary = summarise(result.events, storms or [], first, series[-1][0])
    result.summary["scored_from"] = first
    result.summary["scored"] = len(series) > result.warmup_buckets
    return result


def episodes(result: Backtest, series: str) -> list[dict[str, Any]]:
    """One record per episode: when it opened, escalated and closed, its rule and numbers."""
    out: list[dict[str, Any]] = []
    for event in result.events:
        if event["type"] == "open":
            out.append({"series": series, "opened_at": event["at"], "escalations": [],
                        "closed_at": None, "rule": event["rule"], "numbers": event["numbers"],
                        "summary": event["summary"]})
        elif out and event["type"] == "escalate":
            out[-1]["escalations"].append({"at": event["at"], "rule": event["rule"],
                                           "numbers": event["numbers"]})
        elif out and event["type"] == "close":
            out[-1]["closed_at"] = event["at"]
    return out


def describe(result: Backtest, params: dict[str, Any], storms_given: bool) -> str:
    s = result.summary
    p = {**spikes.DEFAULTS, **params}
    lines = [f"Replayed {len(result.series)} buckets of {p['bucket_hours']:g} h "
             f"({result.series[0][0]} to {result.series[-1][0]}) with "
             f"false_alarms_per_month={p['false_alarms_per_month']:g}, rho={p['rho']:g}, "
             f"min_excess={p['min_excess']:g}.",
             f"Warm-up: the first {p['warmup_days']:g} days ({result.warmup_buckets} buckets) "
             f"teach the baseline and cannot alert; rates below are over the "
             f"{s['days']:.1f} scored days from {s['scored_from']}."
             if s["scored"] else
             f"Warm-up: the first {p['warmup_days']:g} days ({result.warmup_buckets} buckets) "
             f"teach the baseline and cannot alert, and this series is shorter than that: "
             f"nothing could alert.", ""]
    opened = None
    for event in result.events:
        if event["type"] == "open":
            opened = event["at"]
            lines.append(f"OPEN     {event['at']}  {event['rule']}: {event['summary']}")
        elif event["type"] == "escalate":
            lines.append(f"ESCALATE {event['at']}  {event['summary']}")
        else:
            lines.append(f"CLOSE    {event['at']}  (opened {opened})")
    if not result.events:
        lines.append("No episode would have opened.")
    rate = 30.0 * s["alerts"] / max(s["days"], 1e-9) if s["scored"] else 0.0
    lines += ["", f"{s['alerts']} alert(s) in {s['days']:.0f} scored days: "
                  f"{rate:.2f} per 30 days."]
    if storms_given:
        caught = f"{s['storms_caught']} of {s['storms']} known storm(s) caught"
        delays = ", ".join(f"{d:.0f} h" for d in s["delays_hours"])
        lines.append(f"{caught}{' (delays ' + delays + ')' if delays else ''}; "
                     f"{s['false_alerts']} false alert(s): "
                     f"{s['false_alerts_per_30_days']:.2f} per 30 days.")
    else:
        lines.append("Without --storm windows every alert counts as possibly false, so this is "
                     "an upper bound on the false-alarm rate.")
    return "\n".join(lines)


def plot(result: Backtest, path: Path, title: str) -> None:
    """PNG of negatives per bucket, the expected baseline and the episodes shaded."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BacktestError("--plot needs matplotlib: pip install 'matplotlib>=3.8,<4'") from None
    times = [parse_iso(at) for at, _, _ in result.series]
    fig, ax = plt.subplots(figsize=(11, 4), dpi=110)
    ax.step(times, [y for _, _, y in result.series], where="post", color="#c0392b", lw=0.9,
            label="negative mentions")
    ax.plot(times, result.expected, color="#555", lw=1, ls="--", label="expected")
    start = None
    for event in result.events:
        at = parse_iso(event["at"])
        if event["type"] == "open":
            start = at
            ax.axvline(at, color="#c0392b", lw=1.5)
        elif event["type"] == "close" and start is not None:
            ax.axvspan(start, at, color="#f5b7b1", alpha=0.5, lw=0)
            start = None
    if start is not None:
        ax.axvspan(start, times[-1], color="#f5b7b1", alpha=0.5, lw=0)
    ax.set_title(title)
    ax.set_ylabel("per bucket")
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
