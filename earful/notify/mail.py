"""Email delivery: MIME assembly, SMTP (STARTTLS / implicit TLS / AUTH), the .eml outbox."""

from __future__ import annotations

import email.policy
import hashlib
import json
import os
import re
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from collectors.base import parse_iso

from ..config import SmtpConfig


class DeliveryError(Exception):
    """An alert could not be delivered (SMTP or a webhook down, refused, outbox not writable).
    Its message never contains a secret (a password or a webhook URL)."""


# Headers unfolded up to 998 (RFC 5322's limit): Python folds a long subject before an
# encoded word with a stray space ("usual  — mostly"); bodies 7-bit (quoted-printable or
# base64), so no server needs 8BITMIME.
MAIL_POLICY = email.policy.SMTP.clone(max_line_length=998, cte_type="7bit")


def assemble(alert: dict[str, Any], sender: str, subject_line: str, text: str, html_part: str,
             images: list[tuple[str, bytes]]) -> EmailMessage:
    """multipart/alternative: text/plain, then multipart/related (HTML + inline PNGs)."""
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["Subject"] = subject_line
    msg["From"] = sender
    msg["To"] = ", ".join(json.loads(alert["recipients"])) or "undisclosed-recipients:;"
    msg["Message-ID"] = alert["message_id"]
    msg["Date"] = format_datetime(parse_iso(alert["created_at"]))
    if alert.get("thread_id"):
        msg["In-Reply-To"] = alert["thread_id"]
        msg["References"] = alert["thread_id"]
    msg["X-Earful-Alert"] = alert["id"]
    msg["Auto-Submitted"] = "auto-generated"  # no vacation replies to a robot
    msg.set_content(text)
    msg.add_alternative(html_part, subtype="html")
    html_mime = msg.get_payload()[1]
    for cid, png in images:
        html_mime.add_related(png, "image", "png", cid=f"<{cid}>", disposition="inline",
                              filename=cid.split("@")[0] + ".png")
    return msg


def eml_path(outbox: Path, alert: dict[str, Any]) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", alert["id"]).strip("-")
    if len(slug) > 120:  # cut, but kept apart: a health alert and its recovery share 120
        slug = slug[:107] + "-" + hashlib.sha256(alert["id"].encode()).hexdigest()[:12]
    return outbox / f"{slug}.eml"


def write_eml(outbox: Path, alert: dict[str, Any], msg: EmailMessage) -> Path:
    """Write atomically under a name derived from the alert id: a rerun rewrites, never adds."""
    outbox.mkdir(parents=True, exist_ok=True)
    path = eml_path(outbox, alert)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        tmp.write_bytes(bytes(msg))
        os.replace(tmp, path)
    except OSError:  # a full disk: no half-written file left behind
        tmp.unlink(missing_ok=True)
        raise
    return path


def tls_context(smtp: SmtpConfig) -> ssl.SSLContext:
    """Certificate and host name always verified; ``smtp.ca_file`` trusts a private CA
    (a company relay, or the tests' self-signed server) instead of the system store."""
    return ssl.create_default_context(cafile=smtp.ca_file or None)


def send_smtp(smtp: SmtpConfig, password: str | None, msg: EmailMessage) -> str:
    """Deliver one message. Returns a note on recipients refused (others got it)."""
    host, port, timeout = smtp.host, smtp.port, smtp.timeout
    # Our own name for EHLO: socket.getfqdn() (smtplib's default) can hang on DNS.
    helo = smtp.helo or socket.gethostname() or "localhost"
    try:
        if smtp.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, local_hostname=helo,
                                                    timeout=timeout, context=tls_context(smtp))
        else:
            client = smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout)
        try:
            if smtp.security == "starttls":
                client.starttls(context=tls_context(smtp))
            if smtp.username:
                client.login(smtp.username, password or "")
            refused = client.send_message(msg)
        finally:
            _quit(client)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP {host}:{port}: {exc}") from None
    return f"refused: {', '.join(sorted(refused))}" if refused else ""


def _quit(client: smtplib.SMTP) -> None:
    # Once send_message returned the server has the message: a QUIT answered 421 or cut off
    # must not mark it failed, or the next run sends a second copy.
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
