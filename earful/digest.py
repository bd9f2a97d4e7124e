"""Daily or weekly digests for people who want no real-time mail.

A digest covers one closed period (a UTC day, or a Monday-to-Monday week) and is queued
by the alert stage once that period is over and ``alerts.digest_hour`` (UTC) has passed.
Its outbox id is ``digest:<daily|weekly>:<first day>``, so however many runs see it due,
it is queued once and sent once. Only the latest closed period is queued: earful down for
a week sends one digest on its return, not seven.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import sqlite_utils

from collectors.base import parse_iso

from . import alerts, chart
from . import db as store
from .alerts import Links, SourceCount, e, html_heading, source_name
from .config import Config

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
    hour = int(config.alerts.get("digest_hour", 7))
    out = []
    for frequency in PERIODS:
        recipients = alerts.digest_recipients(config, frequency)
        if not recipients:
            continue
        start, end = period(frequency, now, hour)
        if first >= store.iso(end):
            continue  # nothing collected before the period ended: nothing to digest
        alert_id = f"digest:{frequency}:{start:%Y-%m-%d}"
        if db.execute("SELECT 1 FROM alerts WHERE id = ?", [alert_id]).fetchone():
            continue
        out.append(alerts.alert_row(alert_id, "digest", recipients=recipients,
                                    event_at=store.iso(start)))
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


@dataclass
class Digest:
    alert: dict[str, Any]
    frequency: str
    start: str
    end: str
    brands: list[BrandDigest]
    links: Links


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
        worst = alerts.worst_mentions(db, name, s, en, WORST)
        episodes = alerts.rows(
            db, "SELECT id, opened_at, closed_at, status, summary FROM episodes WHERE brand = ? "
            "AND opened_at < ? AND coalesce(closed_at, '9999') >= ? ORDER BY opened_at",
            [name, en, s])
        brands.append(BrandDigest(
            brand=name, negatives=sum(x.negatives for x in by_source),
            total=sum(x.total for x in by_source), previous=negatives(store.iso(before), s),
            by_source=by_source, worst=worst, episodes=episodes,
            terms=alerts.window_terms(db, name, s, en, brand.keywords),
            bins=alerts.chart_bins(db, name, "all", end, days=TREND_DAYS[frequency],
                                   bin_hours=24)))
    return Digest(alert=alert, frequency=frequency, start=s, end=en, brands=brands,
                  links=Links.of(config))


def trend(now: int, before: int, frequency: str) -> str:
    unit = "the day before" if frequency == "daily" else "the week before"
    if now == before:
        return f"same as {unit}"
    return f"{'up' if now > before else 'down'} from {before} {unit}"


def label(d: Digest) -> str:
    start = parse_iso(d.start)
    if d.frequency == "daily":
        return f"{start:%a} {start.day} {start:%b}"
    last = parse_iso(d.end) - dt.timedelta(days=1)
    return f"week of {start.day} {start:%b}–{last.day} {last:%b}"


def subject(d: Digest) -> str:
    parts = [f"{b.brand} {b.negatives} negative ({trend(b.negatives, b.previous, d.frequency)})"
             for b in d.brands]
    return f"earful {d.frequency} digest, {label(d)}: " + "; ".join(parts or ["no brands"])


def render(d: Digest, sender: str) -> EmailMessage:
    """The digest email: per brand the numbers, trend chart, complaints, worst mentions."""
    title = subject(d)
    text = [title, ""]
    inner = [f'<div style="font-size:12px;font-weight:700;letter-spacing:.08em;color:#344054">'
             f"{e(d.frequency.upper())} DIGEST · {e(label(d))}</div>"]
    images = []
    step = dt.timedelta(days=1)
    shade = (parse_iso(d.start), parse_iso(d.end))
    for b in d.brands:
        share = f" ({b.negatives / b.total:.0%} of {b.total} mentions)" if b.total else ""
        headline = (f"{b.brand}: {b.negatives} negative mentions{share}, "
                    f"{trend(b.negatives, b.previous, d.frequency)}.")
        triage = d.links.query("negative_last_24h" if d.frequency == "daily"
                               else "negative_last_7d", brand=b.brand)
        text += [headline]
        if b.by_source:
            text.append("Where: " + ", ".join(f"{source_name(s.source)} {s.negatives}/{s.total}"
                                              for s in b.by_source))
        if b.terms:
            text.append("What people complain about: " + ", ".join(b.terms))
        for ep in b.episodes:
            evidence = d.links.query("episode_evidence", episode=ep["id"])
            text.append(f"Episode {alerts.when(ep['opened_at'])} ({ep['status']}): "
                        f"{ep['summary'] or ''} {evidence}")
        text += [f"Triage: {triage}", "", f"Worst {len(b.worst)}:",
                 *alerts.plain_mentions(d.links, b.worst), ""]

        png = chart.render_png(b.bins, shade=shade, step=step) if b.bins else None
        cid = alerts.chart_cid(d.alert["id"], f"trend-{len(images)}")
        inner.append(f'<h1 style="font-size:20px;line-height:1.25;margin:8px 0 8px 0">'
                     f"{e(headline)}</h1>")
        if b.by_source:
            inner.append('<p style="margin:0 0 6px 0">Where: ' + e(", ".join(
                f"{source_name(s.source)} {s.negatives}" for s in b.by_source if s.negatives)
                or "no negatives") + "</p>")
        if png:
            images.append((cid, png))
            inner.append(alerts.html_chart(cid, f"Negative mentions per day for {b.brand}, "
                                           f"last {TREND_DAYS[d.frequency]} days")
                         + '<div style="font-size:12px;color:#6b7280">Negative mentions per '
                         "day; line = usual; shaded = this digest's period.</div>")
        if b.terms:
            inner.append(html_heading("What people complain about") + e(", ".join(b.terms)))
        if b.episodes:
            inner.append(html_heading("Episodes") + "".join(
                f'<p style="margin:0 0 6px 0"><a href="'
                f'{e(d.links.query("episode_evidence", episode=ep["id"]))}" style="color:#1d4ed8">'
                f"{e(alerts.when(ep['opened_at']))}</a> ({e(ep['status'])}): "
                f"{e(ep['summary'] or '')}</p>" for ep in b.episodes))
        inner.append('<div style="margin:12px 0 0 0">'
                     + alerts.html_button(triage, "Triage negatives") + "</div>")
        if b.worst:
            inner.append(html_heading(f"Worst {len(b.worst)}")
                         + alerts.html_mentions(d.links, b.worst))
    text.append("-- earful. You get this digest because alerts.subscribers lists you.")
    inner.append('<p style="font-size:12px;color:#6b7280;margin:18px 0 0 0">earful. You get this '
                 "digest because alerts.subscribers lists you.</p>")
    return alerts.assemble(d.alert, sender, title, "\n".join(text) + "\n",
                           alerts.html_page(title, "".join(inner)), images)
