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


def queue(db: sqlite_utils.Database, config: Config, now: dt.datetime, *,
          dry_run: bool = False) -> list[dict[str, Any]]:
    """Judge the mentions not judged yet; queue alerts up to each brand's hourly cap and keep
    the rest for the digest. Returns the alert rows queued (or that would be, on a dry run)."""
    queued = []
    at = store.iso(now)
    hour_ago = store.iso(now - dt.timedelta(hours=1))
    for rule in config.alerts.instant:
        if not rule.enabled:
            continue
        candidates = rows(
            db, "SELECT m.id, m.rating, m.title, m.body, m.extra FROM mention_facts f "
            "JOIN mentions m ON m.rowid = f.mention_rowid LEFT JOIN instant_hits h ON "
            "h.mention_id = m.id WHERE f.brand = ? AND f.created_at >= ? AND f.created_at <= ? "
            "AND h.mention_id IS NULL AND m.deleted = 0 ORDER BY f.created_at, m.id",
            [rule.brand, store.iso(now - dt.timedelta(hours=rule.lookback_hours)), at])
        sent_this_hour = db.execute(
            "SELECT count(*) FROM alerts WHERE kind = 'instant' AND brand = ? AND "
            "created_at > ? AND created_at <= ?", [rule.brand, hour_ago, at]).fetchone()[0]
        with db.atomic():
            for mention in candidates:
                why = reasons(rule, mention)
                if not why:
                    continue
                alert_id = None
                if sent_this_hour < rule.max_per_hour:
                    alert_id = f"instant:{mention['id']}"
                    row = outbox.alert_row(
                        alert_id, "instant", recipients=outbox.instant_recipients(config),
                        brand=rule.brand, event_at=at, created_at=at,
                        channels=outbox.channels_for(config, rule.brand))
                    queued.append(row)
                    sent_this_hour += 1
                if dry_run:
                    continue
                db.execute("INSERT OR IGNORE INTO instant_hits (mention_id, brand, reasons, "
                           "detected_at, alert_id) VALUES (?, ?, ?, ?, ?)",
                           [mention["id"], rule.brand, json.dumps(why), at, alert_id])
                if alert_id:
                    outbox.insert_alert(db, row)
    return queued


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
