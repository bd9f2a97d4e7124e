"""Instant alerts: a mention that should not wait for a spike.

Per brand (``[[alerts.instant]]``, off unless configured): a new review at or below
``max_stars``; a mention containing a severity term ("lawsuit", "data breach", "food
poisoning", ...); a post whose score or comment count passes a threshold. Each mention is
judged once (``instant_hits``); at most ``max_per_hour`` become alerts in any hour, the
rest are kept for the brand's next digest instead of flooding the channel.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from .. import db as store
from ..config import Config, InstantRule
from . import outbox
from .sql import rows
from .text import Links


@dataclass
class InstantEvidence:
    alert: dict[str, Any]
    mention: dict[str, Any]
    reasons: list[str]
    cap: int
    links: Links


def _terms_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    words = [r"\s+".join(map(re.escape, t.split())) for t in terms if t.strip()]
    # Whole words, case-insensitive, a plural too ("scams"); a phrase across any whitespace.
    return re.compile(r"(?<!\w)(?:" + "|".join(words) + r")s?(?!\w)", re.I) if words else None


def reasons(rule: InstantRule, mention: dict[str, Any]) -> list[str]:
    """Why this mention cannot wait, in words; empty when it can."""
    out = []
    rating = mention.get("rating")
    if rule.max_stars > 0 and rating is not None and rating <= rule.max_stars:
        out.append(f"a {rating:g}★ review (alerts at or below {rule.max_stars:g}★)")
    pattern = _terms_pattern(rule.severity_terms)
    text = "\n".join(t for t in (mention.get("title"), mention.get("body")) if t)
    found = sorted({m.group(0).lower() for m in pattern.finditer(text)}) if pattern else []
    if found:
        out.append("mentions " + ", ".join(f"“{t}”" for t in found))
    extra = json.loads(mention.get("extra") or "{}")
    score = extra.get("score", extra.get("points"))
    comments = extra.get("num_comments")
    if (rule.min_score and isinstance(score, int | float) and score >= rule.min_score) or (
            rule.min_comments and isinstance(comments, int) and comments >= rule.min_comments):
        out.append(f"reach: {score or 0:g} points, {comments or 0} comments")
    return out


POSITION = "instant"  # stage_positions key: the last mention judged, in collection order
BATCH = 5000


def queue(db: sqlite_utils.Database, config: Config, now: dt.datetime, *,
          dry_run: bool = False) -> list[dict[str, Any]]:
    """Judge each mention collected since the last run, once; queue alerts up to each brand's
    hourly cap and keep the rest for the digest. Returns the alert rows queued (or that
    would be, on a dry run). Work is proportional to what is new, not to the table."""
    rules = {r.brand: r for r in config.alerts.instant if r.enabled}
    if not rules:
        return []
    at = store.iso(now)
    oldest = store.iso(now - dt.timedelta(hours=max(r.lookback_hours for r in rules.values())))
    # Nothing collected before the oldest lookback can be new: a first run starts there.
    position = max(store.get_position(db, POSITION), (oldest, ""))
    room = {brand: rule.max_per_hour - db.execute(
        "SELECT count(*) FROM alerts WHERE kind = 'instant' AND brand = ? AND created_at > ? "
        "AND created_at <= ?", [brand, store.iso(now - dt.timedelta(hours=1)), at]
    ).fetchone()[0] for brand, rule in rules.items()}
    queued: list[dict[str, Any]] = []
    while True:
        batch = store.mentions_after(db, position, BATCH, "id, brand, created_at, collected_at, "
                                     "rating, title, body, extra, deleted")
        if not batch:
            break
        position = (batch[-1]["collected_at"], batch[-1]["id"])
        with db.atomic():
            for mention in batch:
                rule = rules.get(mention["brand"])
                if rule is None or mention["deleted"] or mention["created_at"] > at or (
                        mention["created_at"]
                        < store.iso(now - dt.timedelta(hours=rule.lookback_hours))):
                    continue
                why = reasons(rule, mention)
                if why:
                    queued += _hit(db, config, rule, mention, why, at, room, dry_run)
            if not dry_run:
                store.save_position(db, POSITION, position)
    return queued


def _hit(db: sqlite_utils.Database, config: Config, rule: InstantRule, mention: dict[str, Any],
         why: list[str], at: str, room: dict[str, int], dry_run: bool) -> list[dict[str, Any]]:
    """Record one mention that met a rule: an alert while the hour has room, else held."""
    row = None
    if room[rule.brand] > 0:
        room[rule.brand] -= 1
        row = outbox.alert_row(f"instant:{mention['id']}", "instant",
                               recipients=outbox.instant_recipients(config), brand=rule.brand,
                               event_at=at, created_at=at,
                               channels=outbox.channels_for(config, rule.brand))
    if not dry_run and db.execute(
            "INSERT OR IGNORE INTO instant_hits (mention_id, brand, reasons, detected_at, "
            "alert_id) VALUES (?, ?, ?, ?, ?)", [mention["id"], rule.brand, json.dumps(why), at,
                                                 row["id"] if row else None]).rowcount == 1:
        if row:
            outbox.insert_alert(db, row)
    return [row] if row else []


def gather(db: sqlite_utils.Database, config: Config, alert: dict[str, Any]) -> InstantEvidence:
    mention_id = alert["id"].removeprefix("instant:")
    mention = rows(db, "SELECT id, source, kind, url, author, title, body, rating, created_at "
                   "FROM mentions WHERE id = ?", [mention_id])[0]
    hit = db.execute("SELECT reasons FROM instant_hits WHERE mention_id = ?",
                     [mention_id]).fetchone()
    cap = next((r.max_per_hour for r in config.alerts.instant if r.brand == alert["brand"]), 0)
    return InstantEvidence(alert=alert, mention=mention,
                           reasons=json.loads(hit[0]) if hit else [], cap=cap,
                           links=Links.of(config))
