"""The names earlier code imports from ``earful.alerts``; the code lives in ``earful.notify``.

Kept so callers (the CLI, the runner, tests, other branches) keep working while they move
to ``earful.notify.*``. Nothing in ``earful.notify`` imports this module.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import sqlite_utils

from .config import Config
from .notify.evidence import (  # noqa: F401 (re-exported)
    CHART_BIN_HOURS,
    CHART_DAYS,
    MAX_RUN_BACK_BUCKETS,
    Evidence,
    SourceCount,
    chart_bins,
    complaint_terms,
    evidence_window,
    gather,
    window_terms,
    worst_mentions,
)
from .notify.mail import (  # noqa: F401
    MAIL_POLICY,
    DeliveryError,
    assemble,
    eml_path,
    send_smtp,
    tls_context,
    write_eml,
)
from .notify.outbox import (  # noqa: F401
    alert_row,
    claim,
    digest_recipients,
    insert_alert,
    instant_recipients,
    lease_seconds,
    message_id,
    queue_alert,
    subscribers,
)
from .notify.render import (  # noqa: F401
    RULES,
    chart_cid,
    facts,
    mention_meta,
    mention_quote,
    plain_mentions,
    render_episode,
    rule_words,
    subject,
    times,
    where_words,
)
from .notify.sql import rows  # noqa: F401
from .notify.stage import alert_stage, email_of, queue_periodic  # noqa: F401
from .notify.stage import render_alert as _rendered
from .notify.text import (  # noqa: F401
    SOURCE_NAMES,
    Links,
    clean,
    host_of,
    safe_url,
    source_name,
    tilde,
    when,
)


def render(ev: Evidence, sender: str) -> EmailMessage:
    """The episode email (plain text + HTML + inline chart)."""
    shown = render_episode(ev)
    return assemble(ev.alert, sender, shown.subject, shown.text, shown.html, shown.images)


def render_alert(db: sqlite_utils.Database, config: Config,
                 alert: dict[str, Any]) -> EmailMessage:
    """Any outbox row -> its email."""
    return email_of(config, alert, _rendered(db, config, alert))
