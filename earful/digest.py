"""The names earlier code imports from ``earful.digest``; the code lives in
``earful.notify.digest`` (evidence) and ``earful.notify.render`` (wording and templates)."""

from __future__ import annotations

from email.message import EmailMessage

from .notify.digest import (  # noqa: F401 (re-exported)
    PERIODS,
    TREND_DAYS,
    WORST,
    BrandDigest,
    Digest,
    due,
    gather,
    period,
)
from .notify.mail import assemble
from .notify.render import digest_label as label  # noqa: F401
from .notify.render import digest_subject as subject  # noqa: F401
from .notify.render import render_digest, trend  # noqa: F401


def render(d: Digest, sender: str) -> EmailMessage:
    shown = render_digest(d)
    return assemble(d.alert, sender, shown.subject, shown.text, shown.html, shown.images)
