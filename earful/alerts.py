"""Alert emails: queue (outbox rows), render (pure), send (SMTP or .eml files).

The ``alerts`` table is an outbox. The detect stage writes a row (pending) in the same
transaction as the episode; the alert stage claims it, delivers it and marks it sent.
Each alert has a Message-ID derived from its id, so the one narrow window -- a process
dying after the SMTP server accepted the message but before the row says "sent" -- can
only produce a second copy with the *same* Message-ID, which mail clients show once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import re
import smtplib
import ssl
import urllib.parse
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from . import db as store
from .config import Config

SOURCE_NAMES = {"reddit": "Reddit", "hackernews": "Hacker News", "feed": "Google Alerts / feeds",
                "schemaorg": "review pages", "trustpilot": "Trustpilot", "appstore": "App Store",
                "googleplay": "Google Play", "css": "review pages"}


class DeliveryError(Exception):
    """An alert could not be delivered (SMTP down, refused, outbox not writable)."""


def message_id(alert_id: str) -> str:
    digest = hashlib.sha256(alert_id.encode()).hexdigest()[:24]
    return f"<earful.{digest}@earful.invalid>"


def queue_alert(db: sqlite_utils.Database, config: Config, *, kind: str, episode_id: str | None,
                brand: str, event_at: str) -> bool:
    """Write a pending alert unless it exists. Call inside the detect transaction."""
    alert_id = f"{episode_id}:{kind}:{event_at}"
    thread = None
    if kind != "open" and episode_id:
        row = db.execute("SELECT message_id FROM alerts WHERE episode_id = ? AND kind = 'open'",
                         [episode_id]).fetchone()
        thread = row[0] if row else None
    return db.execute(
        "INSERT OR IGNORE INTO alerts (id, kind, episode_id, brand, event_at, recipients, "
        "message_id, thread_id, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
        [alert_id, kind, episode_id, brand, event_at, json.dumps(config.alerts["recipients"]),
         message_id(alert_id), thread, store.now_iso()]).rowcount == 1


# --- evidence -------------------------------------------------------------------------
@dataclass
class Evidence:
    """Everything an episode email shows, as plain values (gathered from the database)."""

    alert: dict[str, Any]
    episode: dict[str, Any]
    worst: list[dict[str, Any]] = field(default_factory=list)
    by_source: list[tuple[str, int]] = field(default_factory=list)
    window_start: str = ""
    window_end: str = ""
    datasette_url: str = ""
    database_name: str = "earful"


def gather(db: sqlite_utils.Database, config: Config, alert: dict[str, Any]) -> Evidence:
    episode = dict(zip(
        [c[0] for c in db.execute("SELECT * FROM episodes LIMIT 0").description],
        db.execute("SELECT * FROM episodes WHERE id = ?", [alert["episode_id"]]).fetchone(),
        strict=True))
    event_at = dt.datetime.fromisoformat(alert["event_at"].replace("Z", "+00:00"))
    opened = dt.datetime.fromisoformat(episode["opened_at"].replace("Z", "+00:00"))
    # The evidence window: a few hours before the episode opened up to the event's bucket end.
    start = store.iso(min(opened, event_at) - dt.timedelta(hours=6))
    end = store.iso(event_at + dt.timedelta(hours=config.detection["bucket_hours"]))
    cur = db.execute(
        "SELECT m.id, m.source, m.kind, m.url, m.author, m.title, m.body, m.rating, m.created_at, "
        "ms.score FROM mention_sentiments ms JOIN mentions m ON m.id = ms.mention_id "
        "WHERE ms.brand = ? AND ms.created_at >= ? AND ms.created_at < ? AND ms.label = 'negative' "
        "ORDER BY ms.score ASC, m.created_at DESC LIMIT ?",
        [alert["brand"], start, end, config.alerts["worst_mentions"]])
    names = [c[0] for c in cur.description]
    worst = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    by_source = db.execute(
        "SELECT source, count(*) FROM mention_sentiments WHERE brand = ? AND created_at >= ? "
        "AND created_at < ? AND label = 'negative' GROUP BY source ORDER BY 2 DESC",
        [alert["brand"], start, end]).fetchall()
    return Evidence(alert=alert, episode=episode, worst=worst, by_source=list(by_source),
                    window_start=start, window_end=end,
                    datasette_url=config.earful["datasette_url"].rstrip("/"),
                    database_name=Path(config.database).stem)


# --- render (pure) --------------------------------------------------------------------
def _hours(start: str, end: str) -> int:
    a = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    b = dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
    return max(1, round((b - a).total_seconds() / 3600))


def subject(ev: Evidence) -> str:
    ep, kind = ev.episode, ev.alert["kind"]
    brand = ev.alert["brand"]
    total = sum(n for _, n in ev.by_source)
    expected = ep.get("expected") or 0
    count = ep.get("peak_count") or ep.get("count") or 0
    ratio = f", {count / expected:.0f}x usual" if expected and count else ""
    where = [SOURCE_NAMES.get(s, s) for s, _ in ev.by_source[:2]]
    mostly = f" — mostly {' and '.join(where)}" if where else ""
    hours = _hours(ev.window_start, ev.window_end)
    if kind == "close":
        return f"{brand}: negative episode over ({total} negative mentions in {hours} h)"
    prefix = "Still rising: " if kind == "escalate" else ""
    return f"{prefix}{brand}: {total} negative mentions in {hours} h{ratio}{mostly}"


def mentions_link(ev: Evidence, **filters: str) -> str:
    query = {"brand": ev.alert["brand"], "created_at__gte": ev.window_start,
             "created_at__lt": ev.window_end, "_sort_desc": "created_at", **filters}
    return (f"{ev.datasette_url}/{ev.database_name}/mentions?"
            f"{urllib.parse.urlencode(query)}")


def row_link(ev: Evidence, mention_id: str) -> str:
    quoted = urllib.parse.quote(mention_id, safe="")
    return f"{ev.datasette_url}/{ev.database_name}/mentions/{quoted}"


def _clean(text: str | None, limit: int = 280) -> str:
    """Mention text for an email: control and bidi-override characters out, length capped."""
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", "", text or "")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _safe_url(url: str | None) -> str | None:
    # Only http(s) links from collected content become links; anything else stays text.
    return url if url and urllib.parse.urlparse(url).scheme in ("http", "https") else None


def render(ev: Evidence, sender: str) -> EmailMessage:
    """Build the email (plain text + HTML). Pure: no database, no network."""
    ep = ev.episode
    lines = [subject(ev), ""]
    opened = ep["opened_at"].replace("T", " ").replace("Z", " UTC")
    expected = ep.get("expected")
    lines.append(f"Since {opened}: {ep.get('summary') or ''}".strip())
    if ep.get("share") is not None and ep.get("baseline_share") is not None:
        lines.append(f"Negative share {ep['share']:.0%} against a usual "
                     f"{ep['baseline_share']:.0%}.")
    params = json.loads(ep.get("params") or "{}")
    rule = ep.get("rule") or ""
    lines.append(f"Rule: {rule} ({', '.join(f'{k}={v}' for k, v in sorted(params.items()))}); "
                 f"statistic {ep.get('statistic')} over threshold {ep.get('threshold')}"
                 + (f", {expected:.1f} negatives expected per hour." if expected else "."))
    lines += ["", "Where:"] + [f"  {SOURCE_NAMES.get(s, s)}: {n}" for s, n in ev.by_source]
    lines += ["", "Worst mentions:"]
    for m in ev.worst:
        stars = f" {m['rating']:g}★" if m.get("rating") is not None else ""
        lines.append(f"- “{_clean(m.get('title') or m.get('body'))}”")
        lines.append(f"  {SOURCE_NAMES.get(m['source'], m['source'])}{stars}, "
                     f"{_clean(m.get('author'), 60) or 'anonymous'}, {m['created_at']}")
        if _safe_url(m.get("url")):
            lines.append(f"  original: {m['url']}")
        lines.append(f"  in earful: {row_link(ev, m['id'])}")
    lines += ["", f"All negative mentions of this episode: {mentions_link(ev)}",
              f"Episode: {ev.datasette_url}/{ev.database_name}/episodes/"
              f"{urllib.parse.quote(ep['id'], safe='')}"]
    text = "\n".join(lines) + "\n"

    e = html.escape
    items = []
    for m in ev.worst:
        stars = f" · {m['rating']:g}★" if m.get("rating") is not None else ""
        original = _safe_url(m.get("url"))
        link = f' · <a href="{e(original)}">original</a>' if original else ""
        items.append(
            f'<li style="margin:0 0 12px 0"><div style="font-size:15px">'
            f"“{e(_clean(m.get('title') or m.get('body')))}”</div>"
            f'<div style="color:#555;font-size:13px">'
            f'{e(SOURCE_NAMES.get(m["source"], m["source"]))}'
            f"{stars} · {e(_clean(m.get('author'), 60) or 'anonymous')} · {e(m['created_at'])}"
            f'{link} · <a href="{e(row_link(ev, m["id"]))}">in earful</a></div></li>')
    sources = "".join(f"<li>{e(SOURCE_NAMES.get(s, s))}: {n}</li>" for s, n in ev.by_source)
    body = "".join(f"<p style='margin:0 0 8px 0'>{e(line)}</p>" for line in lines[2:5] if line)
    html_part = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
        "<body style='font-family:-apple-system,Segoe UI,Roboto,sans-serif;max-width:600px;"
        "margin:0 auto;padding:12px;color:#111'>"
        f"<h2 style='font-size:19px;margin:0 0 12px 0'>{e(subject(ev))}</h2>{body}"
        f"<h3 style='font-size:16px'>Where</h3><ul>{sources}</ul>"
        f"<h3 style='font-size:16px'>Worst mentions</h3><ul style='padding-left:18px'>"
        f"{''.join(items)}</ul>"
        f"<p><a href=\"{e(mentions_link(ev))}\">All negative mentions of this episode</a></p>"
        "</body></html>")

    msg = EmailMessage()
    msg["Subject"] = subject(ev)
    msg["From"] = sender
    msg["To"] = ", ".join(json.loads(ev.alert["recipients"])) or "undisclosed-recipients:;"
    msg["Message-ID"] = ev.alert["message_id"]
    msg["Date"] = format_datetime(dt.datetime.fromisoformat(
        ev.alert["created_at"].replace("Z", "+00:00")))
    if ev.alert.get("thread_id"):
        msg["In-Reply-To"] = ev.alert["thread_id"]
        msg["References"] = ev.alert["thread_id"]
    msg["X-Earful-Alert"] = ev.alert["id"]
    msg.set_content(text)
    msg.add_alternative(html_part, subtype="html")
    return msg


# --- send -------------------------------------------------------------------------------
def eml_path(outbox: Path, alert: dict[str, Any]) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", alert["id"]).strip("-")[:120]
    return outbox / f"{slug}.eml"


def write_eml(outbox: Path, alert: dict[str, Any], msg: EmailMessage) -> Path:
    """Write atomically under a name derived from the alert id: a rerun rewrites, never adds."""
    outbox.mkdir(parents=True, exist_ok=True)
    path = eml_path(outbox, alert)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(bytes(msg))
    os.replace(tmp, path)
    return path


def send_smtp(smtp: dict[str, Any], password: str | None, msg: EmailMessage) -> None:
    host, port, timeout = smtp["host"], smtp["port"], smtp["timeout"]
    try:
        if smtp["security"] == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if smtp["security"] == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp["username"]:
                client.login(smtp["username"], password or "")
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP {host}:{port}: {exc}") from None


def alert_stage(db: sqlite_utils.Database, config: Config, *, dry_run: bool = False,
                echo: Any = None) -> tuple[int, list[str]]:
    """Deliver pending alerts. Returns (sent, failures); failures stay pending for next run."""
    cur = db.execute("SELECT * FROM alerts WHERE status IN ('pending', 'sending') "
                     "ORDER BY created_at, id")
    names = [c[0] for c in cur.description]
    pending = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    sent, failures = 0, []
    outbox = Path(config.alerts["outbox"])
    for alert in pending:
        msg = render(gather(db, config, alert), config.alerts["sender"])
        if dry_run:
            if echo:
                echo(f"--- would send {alert['id']} to {msg['To']}\nSubject: {msg['Subject']}\n\n"
                     f"{msg.get_body(('plain',)).get_content()}")
            continue
        with db.atomic():
            claimed = db.execute(
                "UPDATE alerts SET status = 'sending', attempts = attempts + 1, subject = ? "
                "WHERE id = ? AND status IN ('pending', 'sending')",
                [msg["Subject"], alert["id"]]).rowcount
        if not claimed:
            continue
        try:
            if config.smtp:
                send_smtp(config.smtp, config.secrets.smtp_password, msg)
                where = f"smtp://{config.smtp['host']}:{config.smtp['port']}"
            else:
                where = str(write_eml(outbox, alert, msg))
        except (DeliveryError, OSError) as exc:
            error = str(exc) if isinstance(exc, DeliveryError) else f"{outbox}: {exc}"
            with db.atomic():
                db.execute("UPDATE alerts SET status = 'pending', last_error = ? WHERE id = ?",
                           [error, alert["id"]])
            failures.append(f"alert {alert['id']}: {error}")
            continue
        with db.atomic():
            db.execute("UPDATE alerts SET status = 'sent', sent_at = ?, delivered_to = ?, "
                       "last_error = NULL WHERE id = ?", [store.now_iso(), where, alert["id"]])
        sent += 1
    return sent, failures
