"""Replay a series through the spike detector and summarise alerts. Pure (used by backtests).

    events = replay([(bucket_at, n, y), ...], params)
    summary = summarise(events, storms=[(start, end), ...], start=..., end=...)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from analysis import spikes

DAY = dt.timedelta(days=1)


def replay(series: Iterable[tuple[str, int, int]],
           params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run a fresh detector over (bucket_at, n, y) in time order; return every event."""
    state = spikes.new_state(params)
    events: list[dict[str, Any]] = []
    for at, n, y in series:
        events.extend(spikes.step(state, at, n, y, params))
    return events


def _time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def summarise(events: Sequence[dict[str, Any]], storms: Sequence[tuple[str, str]],
              start: str, end: str, grace_hours: float = 0.0) -> dict[str, Any]:
    """False alerts per 30 days and storms caught, given known or assumed storm windows.

    An alert is an episode opening (escalations are not new alerts). It is true if it opens
    inside a storm window (extended by ``grace_hours`` after its end), false otherwise.
    ``start``/``end`` bound the replayed period (false alerts are per 30 days of it).
    """
    windows = [(_time(a), _time(b) + dt.timedelta(hours=grace_hours)) for a, b in storms]
    opens = [_time(e["at"]) for e in events if e["type"] == "open"]
    false = [t for t in opens if not any(a <= t <= b for a, b in windows)]
    caught, delays = 0, []
    for a, b in windows:
        hits = [t for t in opens if a <= t <= b]
        if hits:
            caught += 1
            delays.append((min(hits) - a).total_seconds() / 3600)
    days = max((_time(end) - _time(start)) / DAY, 1e-9)
    return {
        "alerts": len(opens),
        "false_alerts": len(false),
        "false_alerts_per_30_days": 30.0 * len(false) / days,
        "storms": len(windows),
        "storms_caught": caught,
        "delays_hours": delays,
        "precision": (len(opens) - len(false)) / len(opens) if opens else None,
        "days": days,
    }


def calibrate(series_list: Sequence[Sequence[tuple[str, int, int]]],
              params: dict[str, Any] | None = None,
              storms_list: Sequence[Sequence[tuple[str, str]]] | None = None,
              offsets: Sequence[float] = tuple(x / 2 for x in range(-4, 13))) -> float:
    """Smallest CUSUM offset (nats) whose replay stays within the false-alarm budget.

    Replays each series (with its known storms excluded from the count) at each offset and
    returns the first offset whose pooled false alerts per 30 days are within
    ``params["false_alarms_per_month"]``; the last offset if none is.
    """
    p = {**spikes.DEFAULTS, **(params or {})}
    storms_list = storms_list or [[] for _ in series_list]
    for offset in offsets:
        false, days = 0, 0.0
        for series, storms in zip(series_list, storms_list, strict=True):
            rows = list(series)
            s = summarise(replay(rows, {**p, "cusum_offset": offset}), storms,
                          rows[0][0], rows[-1][0])
            false += s["false_alerts"]
            days += s["days"]
        if 30.0 * false / max(days, 1e-9) <= p["false_alarms_per_month"]:
            return offset
    return offsets[-1]
