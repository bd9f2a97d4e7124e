"""Source-health emails: one when a source starts failing or goes silent, one when it recovers.

``status.health(db)`` flags a (brand, source, target) failing several runs in a row, or
bringing nothing for far longer than usual. The outbox id is keyed by the streak --
``health:<brand>/<source>/<target>:<failing|silent>:<first run of the streak>`` -- so a
streak produces one email however many runs see it, and the recovery email (the same id
plus ``:recovered``, in the same thread) goes out once when the flag clears.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import sqlite_utils

from . import alerts, status
from .alerts import Links, e, source_name
from .config import Config

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
    if not config.alerts.get("health_alerts", True):
        return []
    out = []
    for h in status.health(db):
        prefix = f"health:{h['brand']}/{h['source']}/{h['target']}:"
        last = db.execute(
            # An id range, not substr(id, ...): the primary key answers it without a scan.
            "SELECT id, kind, message_id FROM alerts WHERE kind IN ('health', 'recovery') AND "
            "id >= ? AND id < ? ORDER BY created_at DESC, id DESC LIMIT 1",
            [prefix, prefix + "\U0010ffff"]).fetchone()
        if h["flag"]:
            mode, since = _streak_start(db, h)
            alert_id = f"{prefix}{mode}:{since}"
            if not db.execute("SELECT 1 FROM alerts WHERE id = ?", [alert_id]).fetchone():
                out.append(alerts.alert_row(alert_id, "health",
                                            recipients=alerts.instant_recipients(config),
                                            brand=h["brand"], event_at=since))
        elif last and last[1] == "health":
            out.append(alerts.alert_row(f"{last[0]}:recovered", "recovery",
                                        recipients=alerts.instant_recipients(config),
                                        brand=h["brand"], event_at=h["last_ok"],
                                        thread_id=last[2]))
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


def subject(h: HealthEvidence) -> str:
    name = f"{h.brand} {source_name(h.source)}"
    if h.alert["kind"] == "recovery":
        return f"earful: {name} is collecting again"
    if h.mode == "failing":
        return (f"earful: {name} failing — {h.runs_failed} runs in a row since "
                f"{alerts.when(h.since)}")
    return f"earful: {name} silent since {alerts.when(h.since)} — usually brings mentions"


def render(h: HealthEvidence, sender: str) -> EmailMessage:
    title = subject(h)
    # An error message can quote a remote server's reply: untrusted, like mention text.
    error = alerts.clean(h.last_error, 400)
    lines = [f"Source: {source_name(h.source)} — {alerts.clean(h.target, 200)} "
             f"(brand {h.brand})"]
    if h.alert["kind"] == "recovery":
        lines += [f"It worked again at {alerts.when(h.last_ok)}; the mentions it missed are "
                  "collected as far as the source still lists them."]
    elif h.mode == "failing":
        lines += [f"It has failed every run since {alerts.when(h.since)} "
                  f"({h.runs_failed} runs); it last worked {alerts.when(h.last_ok) or 'never'}.",
                  f"Last error ({alerts.when(h.last_error_at)}): {error or 'no message'}",
                  "Until it works, spikes on this source can go unnoticed."]
    else:
        lines += [f"It has brought nothing new since {alerts.when(h.since)}, where it usually "
                  "does: the site may have changed its layout, or blocked us.",
                  "Until it works, spikes on this source can go unnoticed."]
    health_url = h.links.query("source_health")
    runs_url = h.links.table("source_runs", brand=h.brand, source=h.source,
                             _sort_desc="started_at")
    text = "\n".join([title, "", *lines, "", "Run `earful status` on the server for details.",
                      f"Source health: {health_url}", f"Its runs: {runs_url}", "",
                      "-- earful. One email per failure streak, one when it recovers."]) + "\n"
    color = "#067647" if h.alert["kind"] == "recovery" else "#b54708"
    badge = "SOURCE RECOVERED" if h.alert["kind"] == "recovery" else "SOURCE PROBLEM"
    inner = (f'<div style="font-size:12px;font-weight:700;letter-spacing:.08em;color:{color}">'
             f"{badge} · {e(h.brand)}</div>"
             f'<h1 style="font-size:20px;line-height:1.25;margin:6px 0 10px 0">{e(title)}</h1>'
             + "".join(f'<p style="margin:0 0 8px 0">{e(line)}</p>' for line in lines)
             + '<div style="margin:12px 0 0 0">'
             + alerts.html_button(health_url, "Source health")
             + alerts.html_button(runs_url, "Its runs", primary=False) + "</div>"
             + '<p style="font-size:12px;color:#6b7280;margin:18px 0 0 0">Run <code>earful '
             "status</code> on the server for details. earful sends one email per failure "
             "streak, and one when it recovers.</p>")
    return alerts.assemble(h.alert, sender, title, text, alerts.html_page(title, inner), [])
