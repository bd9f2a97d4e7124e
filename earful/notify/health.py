"""Source-health evidence: a source that keeps failing or went silent, and its recovery.

``status.health(db)`` flags a (brand, source, target) failing several runs in a row, or
bringing nothing for far longer than usual. The outbox id is keyed by the streak --
``health:<brand>/<source>/<target>:<failing|silent>:<first run of the streak>`` -- so a
streak produces one alert however many runs see it, and the recovery (the same id plus
``:recovered``, in the same thread) goes out once when the flag clears.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from .. import status
from ..config import Config
from . import outbox
from .text import Links

SINCE_LEN = len("2026-01-01T00:00:00Z")


def _streak_start(db: sqlite_utils.Database, h: dict[str, Any]) -> tuple[str, str]:
    where = [h["brand"], h["source"], h["target"]]
    if h["failing_runs"] >= status.FAILING_RUNS:
        since = db.execute("SELECT min(started_at) FROM source_runs WHERE brand = ? AND "
                           "source = ? AND target = ? AND started_at > ?",
                           where + [h["last_ok"] or ""]).fetchone()[0]
        return "failing", since
    since = db.execute("SELECT max(started_at) FROM source_runs WHERE brand = ? AND source = ? "
                       "AND target = ? AND new_rows > 0", where).fetchone()[0]
    return "silent", since or ""


def due(db: sqlite_utils.Database, config: Config) -> list[dict[str, Any]]:
    """Health outbox rows to queue now: new failure streaks, and recoveries."""
    if not config.alerts.health_alerts:
        return []
    out = []
    for h in status.health(db):
        prefix = f"health:{h['brand']}/{h['source']}/{h['target']}:"
        last = db.execute(
            # An id range, not substr(id, ...): the primary key answers it without a scan.
            "SELECT id, kind, message_id FROM alerts WHERE kind IN ('health', 'recovery') AND "
            "id >= ? AND id < ? ORDER BY created_at DESC, id DESC LIMIT 1",
            [prefix, prefix + "\U0010ffff"]).fetchone()
        who = {"recipients": outbox.instant_recipients(config), "brand": h["brand"],
               "channels": outbox.channels_for(config, h["brand"])}
        if h["flag"]:
            mode, since = _streak_start(db, h)
            alert_id = f"{prefix}{mode}:{since}"
            if not outbox.exists(db, alert_id):
                out.append(outbox.alert_row(alert_id, "health", event_at=since, **who))
        elif last and last[1] == "health":
            out.append(outbox.alert_row(f"{last[0]}:recovered", "recovery",
                                        event_at=h["last_ok"], thread_id=last[2], **who))
    return out


@dataclass
class HealthEvidence:
    alert: dict[str, Any]
    brand: str
    source: str
    target: str
    mode: str  # failing or silent
    since: str
    runs_failed: int
    last_error: str | None
    last_error_at: str | None
    last_ok: str | None
    last_new: str | None
    links: Links


def parse_id(alert: dict[str, Any]) -> tuple[str, str, str, str]:
    """(source, target, mode, since) back from the outbox id (the brand is its own column)."""
    body = alert["id"].removesuffix(":recovered")[len("health:"):]
    since = body[-SINCE_LEN:] if body.endswith("Z") else ""
    body = body[: len(body) - len(since)].removesuffix(":")
    key, _, mode = body.rpartition(":")
    source, _, target = key[len(alert["brand"]) + 1:].partition("/")
    return source, target, mode, since


def gather(db: sqlite_utils.Database, config: Config, alert: dict[str, Any]) -> HealthEvidence:
    source, target, mode, since = parse_id(alert)
    where = [alert["brand"], source, target]
    failed, last_error_at, last_error = db.execute(
        "SELECT count(*), max(started_at), (SELECT message FROM source_runs WHERE brand = ? AND "
        "source = ? AND target = ? AND status != 'ok' ORDER BY started_at DESC, id DESC LIMIT 1) "
        "FROM source_runs WHERE brand = ? AND source = ? AND target = ? AND status != 'ok' AND "
        "started_at >= ?", where + where + [since]).fetchone()
    last_ok, last_new = db.execute(
        "SELECT max(CASE WHEN status = 'ok' THEN started_at END), "
        "max(CASE WHEN new_rows > 0 THEN started_at END) FROM source_runs WHERE brand = ? AND "
        "source = ? AND target = ?", where).fetchone()
    return HealthEvidence(alert=alert, brand=alert["brand"], source=source, target=target,
                          mode=mode, since=since, runs_failed=failed, last_error=last_error,
                          last_error_at=last_error_at, last_ok=last_ok, last_new=last_new,
                          links=Links.of(config))
