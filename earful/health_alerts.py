"""The names earlier code imports from ``earful.health_alerts``; the code lives in
``earful.notify.health`` (evidence) and ``earful.notify.render`` (wording and templates)."""

from __future__ import annotations

from email.message import EmailMessage

from .notify.health import SINCE_LEN, HealthEvidence, due, gather, parse_id  # noqa: F401
from .notify.mail import assemble
from .notify.render import health_subject as subject  # noqa: F401
from .notify.render import render_health


def render(h: HealthEvidence, sender: str) -> EmailMessage:
    shown = render_health(h)
    return assemble(h.alert, sender, shown.subject, shown.text, shown.html, shown.images)
