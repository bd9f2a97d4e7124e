"""The outbox: alert rows, who and which channels each goes to, claims, delivery records.

An alert row is written (pending) before anything is delivered -- by the detect stage in
the same transaction as the episode, or by the alert stage for digests, source health and
instant alerts -- with one ``alert_deliveries`` row per channel it goes to (``email`` and
each ``[channels.NAME]``). The alert stage claims the alert (a lease: ``claimed_by``
host:pid and ``claimed_at``), delivers to each channel not yet marked sent, and marks each
one as it succeeds; a channel that fails stays pending for the next run while the others
are marked sent and never repeated.

Each delivery has a stable idempotency key: the Message-ID for email, and for webhooks a
key sent in the ``Idempotency-Key`` header and in the payload. The one narrow window -- a
process dying after the receiver accepted but before the row says "sent" -- can only
produce a second copy carrying the *same* key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
from typing import Any

import sqlite_utils

from collectors.base import parse_iso

from .. import db as store
from ..config import Config, Subscriber

EMAIL = "email"


def message_id(alert_id: str) -> str:
    digest = hashlib.sha256(alert_id.encode()).hexdigest()[:24]
    return f"<earful.{digest}@earful.invalid>"


def idempotency_key(alert_id: str, channel: str, msg_id: str | None = None) -> str:
    """Stable per alert and channel: a retry of the same delivery carries the same key."""
    if channel == EMAIL:
        return msg_id or message_id(alert_id)
    return "earful-" + hashlib.sha256(f"{alert_id}\0{channel}".encode()).hexdigest()[:32]


# --- who gets what ------------------------------------------------------------------------
def subscribers(config: Config) -> list[Subscriber]:
    return list(config.alerts.subscribers)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def instant_recipients(config: Config) -> list[str]:
    """``alerts.recipients`` (instant, the simple form) plus subscribers who want instant mail."""
    return _unique(list(config.alerts.recipients) + [
        s.email for s in config.alerts.subscribers if s.mode in ("instant", "both")])


def digest_recipients(config: Config, frequency: str) -> list[str]:
    return _unique([s.email for s in config.alerts.subscribers
                    if s.mode in ("digest", "both") and s.digest == frequency])


def channels_for(config: Config, brand: str | None, frequency: str | None = None) -> list[str]:
    """The webhook channels an alert goes to: instant ones, or a digest's frequency."""
    out = []
    for channel in config.channels:
        wanted = (channel.mode in ("digest", "both") and channel.digest == frequency
                  if frequency else channel.mode in ("instant", "both"))
        if wanted and (not channel.brands or brand is None or brand in channel.brands):
            out.append(channel.name)
    return out


def alert_row(alert_id: str, kind: str, *, recipients: list[str], brand: str | None = None,
              episode_id: str | None = None, event_at: str | None = None,
              thread_id: str | None = None, channels: list[str] | None = None,
              created_at: str | None = None) -> dict[str, Any]:
    """An outbox row; ``channels`` (not a column) are the webhook channels beside email.
    Email goes out when there are recipients, or when there is no other channel (the .eml
    outbox of a setup without any)."""
    channels = list(channels or [])
    if recipients or not channels:
        channels.insert(0, EMAIL)
    return {"id": alert_id, "kind": kind, "episode_id": episode_id, "brand": brand,
            "event_at": event_at, "recipients": json.dumps(recipients),
            "message_id": message_id(alert_id), "thread_id": thread_id, "status": "pending",
            "created_at": created_at or store.now_iso(), "channels": channels}


def insert_alert(db: sqlite_utils.Database, row: dict[str, Any]) -> bool:
    """Write the alert and one pending delivery per channel, unless the alert exists."""
    row = dict(row)
    channels = row.pop("channels", None) or [EMAIL]
    columns = list(row)
    inserted = db.execute(
        f"INSERT OR IGNORE INTO alerts ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))})", [row[c] for c in columns]).rowcount == 1
    if inserted:
        for channel in channels:
            db.execute("INSERT OR IGNORE INTO alert_deliveries (alert_id, channel, "
                       "idempotency_key) VALUES (?, ?, ?)",
                       [row["id"], channel, idempotency_key(row["id"], channel,
                                                            row["message_id"])])
    return inserted


def queue_alert(db: sqlite_utils.Database, config: Config, *, kind: str, episode_id: str | None,
                brand: str, event_at: str) -> bool:
    """Write a pending alert unless it exists. Call inside the detect transaction."""
    alert_id = f"{episode_id}:{kind}:{event_at}"
    thread = None
    if kind != "open" and episode_id:
        row = db.execute("SELECT message_id FROM alerts WHERE episode_id = ? AND kind = 'open'",
                         [episode_id]).fetchone()
        thread = row[0] if row else None
    return insert_alert(db, alert_row(alert_id, kind, recipients=instant_recipients(config),
                                      brand=brand, episode_id=episode_id, event_at=event_at,
                                      thread_id=thread, channels=channels_for(config, brand)))


def exists(db: sqlite_utils.Database, alert_id: str) -> bool:
    return db.execute("SELECT 1 FROM alerts WHERE id = ?", [alert_id]).fetchone() is not None


# --- claims and delivery records ----------------------------------------------------------
def lease_seconds(config: Config) -> float:
    # A claim older than this belongs to a run that died; a send never takes this long.
    timeouts = [config.smtp.timeout if config.smtp else 30.0]
    timeouts += [c.timeout for c in config.channels]
    return max(300.0, 4.0 * sum(float(t) for t in timeouts))


def _claimer() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim_is_stale(claimed_by: str | None, claimed_at: str | None, lease: float) -> bool:
    if not claimed_by or not claimed_at:
        return True
    age = (dt.datetime.now(dt.UTC) - parse_iso(claimed_at)).total_seconds()
    if age > lease:
        return True
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False  # ourselves: another thread's claim, still in flight
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True  # the claiming process is gone: it died mid-send
    except PermissionError:
        return False
    return False


def claim(db: sqlite_utils.Database, config: Config, alert_id: str, subject_line: str) -> bool:
    """Take one alert for sending: compare-and-set, so overlapping stages never both win."""
    with db.atomic():
        row = db.execute("SELECT status, claimed_by, claimed_at FROM alerts WHERE id = ?",
                         [alert_id]).fetchone()
        if row is None:
            return False
        status, claimed_by, claimed_at = row
        if status == "sent" or (status == "sending" and not _claim_is_stale(
                claimed_by, claimed_at, lease_seconds(config))):
            return False
        return db.execute(
            "UPDATE alerts SET status = 'sending', attempts = attempts + 1, subject = ?, "
            "claimed_by = ?, claimed_at = ? WHERE id = ? AND status = ? AND "
            "coalesce(claimed_by, '') = ? AND coalesce(claimed_at, '') = ?",
            [subject_line, _claimer(), store.now_iso(), alert_id, status, claimed_by or "",
             claimed_at or ""]).rowcount == 1


def pending_deliveries(db: sqlite_utils.Database, alert_id: str) -> list[tuple[str, str]]:
    """(channel, idempotency key) still to deliver for a claimed alert, email first."""
    return [tuple(r) for r in db.execute(
        "SELECT channel, idempotency_key FROM alert_deliveries WHERE alert_id = ? AND "
        "status = 'pending' ORDER BY channel != 'email', channel", [alert_id]).fetchall()]


def mark_delivered(db: sqlite_utils.Database, alert_id: str, channel: str, where: str,
                   note: str = "") -> None:
    with db.atomic():
        db.execute("UPDATE alert_deliveries SET status = 'sent', attempts = attempts + 1, "
                   "sent_at = ?, delivered_to = ?, last_error = ? WHERE alert_id = ? AND "
                   "channel = ?", [store.now_iso(), where, note or None, alert_id, channel])


def mark_failed(db: sqlite_utils.Database, alert_id: str, channel: str, error: str) -> None:
    with db.atomic():
        db.execute("UPDATE alert_deliveries SET attempts = attempts + 1, last_error = ? "
                   "WHERE alert_id = ? AND channel = ?", [error, alert_id, channel])


def finish(db: sqlite_utils.Database, alert_id: str, errors: list[str]) -> bool:
    """Close the claim: sent when every channel is, else pending again (retried next run).
    ``delivered_to`` and the note come from the email delivery when there is one."""
    with db.atomic():
        if errors:
            db.execute("UPDATE alerts SET status = 'pending', last_error = ?, claimed_by = NULL, "
                       "claimed_at = NULL WHERE id = ?", ["; ".join(errors), alert_id])
            return False
        where, note = db.execute(
            "SELECT group_concat(delivered_to, ', '), group_concat(last_error, '; ') FROM "
            "(SELECT delivered_to, last_error FROM alert_deliveries WHERE alert_id = ? "
            "ORDER BY channel != 'email', channel)", [alert_id]).fetchone()
        db.execute("UPDATE alerts SET status = 'sent', sent_at = ?, delivered_to = ?, "
                   "last_error = ? WHERE id = ?", [store.now_iso(), where, note, alert_id])
    return True
