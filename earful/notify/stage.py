"""The alert stage: queue what is due, then for each pending alert and each of its channels
not yet delivered: gather -> render -> deliver -> record. The only module that knows every
kind of alert and every channel."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import sqlite_utils

from ..config import Config
from . import channels, digest, evidence, health, instant, mail, outbox, render
from .mail import DeliveryError
from .sql import rows


def queue_periodic(db: sqlite_utils.Database, config: Config,
                   now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Digest and source-health rows due now (not yet inserted)."""
    now = now or dt.datetime.now(dt.UTC)
    return digest.due(db, config, now) + health.due(db, config)


def render_alert(db: sqlite_utils.Database, config: Config,
                 alert: dict[str, Any]) -> render.Rendered:
    """Any outbox row -> what every channel shows."""
    kind = alert["kind"]
    if kind == "digest":
        return render.render_digest(digest.gather(db, config, alert))
    if kind in ("health", "recovery"):
        return render.render_health(health.gather(db, config, alert))
    if kind == "instant":
        return render.render_instant(instant.gather(db, config, alert))
    return render.render_episode(evidence.gather(db, config, alert))


def email_of(config: Config, alert: dict[str, Any], shown: render.Rendered) -> EmailMessage:
    return mail.assemble(alert, config.alerts.sender, shown.subject, shown.text, shown.html,
                         shown.images)


def deliver(config: Config, alert: dict[str, Any], shown: render.Rendered, channel: str,
            key: str) -> tuple[str, str]:
    """Send one alert to one channel. Returns (where it went, a note); raises DeliveryError."""
    if channel == outbox.EMAIL:
        msg = email_of(config, alert, shown)
        if config.smtp:
            note = mail.send_smtp(config.smtp, config.secrets.smtp_password, msg)
            return f"smtp://{config.smtp.host}:{config.smtp.port}", note
        folder = Path(config.alerts.outbox)
        try:
            return str(mail.write_eml(folder, alert, msg)), ""
        except OSError as exc:
            raise DeliveryError(f"{folder}: {exc}") from None
    hook = next((c for c in config.channels if c.name == channel), None)
    if hook is None:
        # Removed from the config on purpose: retrying would fail every run from now on.
        return f"not sent: [channels.{channel}] was removed from the config", ""
    url = config.secrets.webhook_urls.get(channel)
    if not url:
        raise DeliveryError(f"channel {channel}: {hook.url_env} is not set")
    body = channels.payload(hook.type, shown.card, key, alert)
    return channels.send_webhook(channel, url, body, key, hook.timeout), ""


def alert_stage(db: sqlite_utils.Database, config: Config, *, dry_run: bool = False,
                echo: Callable[[str], Any] | None = None,
                now: dt.datetime | None = None) -> tuple[int, list[str]]:
    """Queue due digests, health and instant alerts, then deliver every pending alert to each
    of its channels. Returns (alerts fully delivered, failures); a channel that failed stays
    pending for the next run, the others are not repeated."""
    now = now or dt.datetime.now(dt.UTC)
    due = queue_periodic(db, config, now)
    if not dry_run and due:
        with db.atomic():
            for row in due:
                outbox.insert_alert(db, row)
    queued_now = instant.queue(db, config, now, dry_run=dry_run)
    pending = rows(db, "SELECT * FROM alerts WHERE status IN ('pending', 'sending') "
                   "ORDER BY created_at, id", [])
    if dry_run:
        pending += due + queued_now
    sent, failures = 0, []
    for alert in pending:
        shown = render_alert(db, config, alert)
        if dry_run:
            if echo:
                to = ", ".join(json.loads(alert["recipients"])) or "undisclosed-recipients:;"
                queued = alert.get("channels") or [
                    c for c, _ in outbox.pending_deliveries(db, alert["id"])]
                hooks = [c for c in queued if c != outbox.EMAIL]
                also = f" and channels {', '.join(hooks)}" if hooks else ""
                echo(f"--- would send {alert['id']} to {to}{also}\nSubject: {shown.subject}\n\n"
                     f"{shown.text}")
            continue
        if not outbox.claim(db, config, alert["id"], shown.subject):
            continue
        errors = []
        for channel, key in outbox.pending_deliveries(db, alert["id"]):
            try:
                where, note = deliver(config, alert, shown, channel, key)
            except DeliveryError as exc:
                outbox.mark_failed(db, alert["id"], channel, str(exc))
                errors.append(str(exc))
                continue
            outbox.mark_delivered(db, alert["id"], channel, where, note)
        if outbox.finish(db, alert["id"], errors):
            sent += 1
        else:
            failures.append(f"alert {alert['id']}: {'; '.join(errors)}")
    return sent, failures
