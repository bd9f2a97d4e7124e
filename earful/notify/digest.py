"""Digest evidence: daily or weekly, for people who want no real-time alerts.

A digest covers one closed period (a UTC day, or a Monday-to-Monday week) and is queued
by the alert stage once that period is over and ``alerts.digest_hour`` (UTC) has passed.
Its outbox id is ``digest:<daily|weekly>:<first day>``, so however many runs see it due,
it is queued once and sent once. Only the latest closed period is queued: earful down for
a week sends one digest on its return, not seven. Instant alerts held back by their hourly
cap are listed in the digest of the period they were found in.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from collectors.base import parse_iso

from .. import chart
from .. import db as store
from ..config import Config
from . import outbox
from .evidence import SourceCount, chart_bins, window_terms, worst_mentions
from .sql import rows
from .text import Links

PERIODS = {"daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7)}
TREND_DAYS = {"daily": 14, "weekly": 28}
WORST = 5


def period(frequency: str, now: dt.datetime, digest_hour: int) -> tuple[dt.datetime, dt.datetime]:
    """The latest closed period whose digest is due at ``now``: (start, end)."""
    day = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = day if frequency == "daily" else day - dt.timedelta(days=day.weekday())
    if now < end + dt.timedelta(hours=digest_hour):
        end -= PERIODS[frequency]
    return end - PERIODS[frequency], end


def due(db: sqlite_utils.Database, config: Config, now: dt.datetime) -> list[dict[str, Any]]:
    """Digest outbox rows due at ``now`` and not queued yet."""
    first = db.execute("SELECT min(created_at) FROM mentions").fetchone()[0]
    if first is None:
        return []
    out = []
    for frequency in PERIODS:
        recipients = outbox.digest_recipients(config, frequency)
        channels = outbox.channels_for(config, None, frequency)
        if not recipients and not channels:
            continue
        start, end = period(frequency, now, config.alerts.digest_hour)
        if first >= store.iso(end):
            continue  # nothing collected before the period ended: nothing to digest
        alert_id = f"digest:{frequency}:{start:%Y-%m-%d}"
        if outbox.exists(db, alert_id):
            continue
        out.append(outbox.alert_row(alert_id, "digest", recipients=recipients,
                                    event_at=store.iso(start), channels=channels))
    return out


@dataclass
class BrandDigest:
    brand: str
    negatives: int
    total: int
    previous: int
    by_source: list[SourceCount] = field(default_factory=list)
    worst: list[dict[str, Any]] = field(default_factory=list)
    episodes: list[dict[str, Any]] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    bins: list[chart.Bin] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)  # instant alerts over the cap


@dataclass
class Digest:
    alert: dict[str, Any]
    frequency: str
    start: str
    end: str
    brands: list[BrandDigest]
    links: Links


def held_back(db: sqlite_utils.Database, brand: str, start: str, end: str) -> list[dict[str, Any]]:
    """Instant alerts found in the period that the hourly cap kept out of real time."""
    found = rows(
        db, "SELECT m.id, m.source, m.kind, m.url, m.author, m.title, m.body, m.rating, "
        "m.created_at, h.reasons FROM instant_hits h JOIN mentions m ON m.id = h.mention_id "
        "WHERE h.brand = ? AND h.alert_id IS NULL AND h.detected_at >= ? AND "
        "h.detected_at < ? ORDER BY h.detected_at, m.id", [brand, start, end])
    for hit in found:
        hit["reasons"] = json.loads(hit["reasons"])
    return found


def gather(db: sqlite_utils.Database, config: Config, alert: dict[str, Any]) -> Digest:
    frequency = alert["id"].split(":")[1]
    start = parse_iso(alert["event_at"])
    end = start + PERIODS[frequency]
    before = start - PERIODS[frequency]
    s, en = store.iso(start), store.iso(end)
    brands = []
    for brand in config.brands:
        if brand.competitor:
            continue  # competitors are charted, never alerted on
        name = brand.name

        def negatives(a: str, b: str, name: str = name) -> int:
            return db.execute("SELECT count(*) FROM mention_sentiments WHERE brand = ? AND "
                              "label = 'negative' AND created_at >= ? AND created_at < ?",
                              [name, a, b]).fetchone()[0]

        window = [name, s, en]
        by_source = [SourceCount(*r) for r in db.execute(
            "SELECT source, coalesce(sum(label = 'negative'), 0), count(*) FROM "
            "mention_sentiments WHERE brand = ? AND created_at >= ? AND created_at < ? "
            "GROUP BY source ORDER BY 2 DESC, 3 DESC, 1", window).fetchall()]
        episodes = rows(
            db, "SELECT id, opened_at, closed_at, status, summary FROM episodes WHERE brand = ? "
            "AND opened_at < ? AND coalesce(closed_at, '9999') >= ? ORDER BY opened_at",
            [name, en, s])
        brands.append(BrandDigest(
            brand=name, negatives=sum(x.negatives for x in by_source),
            total=sum(x.total for x in by_source), previous=negatives(store.iso(before), s),
            by_source=by_source, worst=worst_mentions(db, name, s, en, WORST),
            episodes=episodes, terms=window_terms(db, name, s, en, brand.keywords),
            bins=chart_bins(db, name, "all", end, days=TREND_DAYS[frequency], bin_hours=24),
            held=held_back(db, name, s, en)))
    return Digest(alert=alert, frequency=frequency, start=s, end=en, brands=brands,
                  links=Links.of(config))
