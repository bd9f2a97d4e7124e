"""Alert delivery through a real SMTP server (aiosmtpd on 127.0.0.1): what the reader gets.

MIME structure, the inline chart, links, hostile mention text, STARTTLS/implicit TLS with
authentication against a self-signed certificate the client is told to trust, SMTP down
then up, overlapping alert stages, and a process killed right after the server accepted.
"""

from __future__ import annotations

import dataclasses
import email
import io
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
from email import policy
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from earful import db as store
from earful.alerts import alert_stage, message_id
from tests.conftest import ROOT, make_config
from tests.test_alerts import DATASETTE, _demo_file, hostile_episode, prepared_db  # noqa: F401 (fixtures used here)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every message it accepted (raw bytes, as the reader gets)."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.logins: list[str] = []
        self.entered = threading.Event()
        self.release: threading.Event | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.entered.set()
        if self.release is not None:
            self.release.wait(30)  # hold the first delivery open while the test overlaps
        self.messages.append(envelope.original_content or envelope.content)
        if session.authenticated:
            self.logins.append(session.auth_data.login.decode())
        return "250 OK"

    def parsed(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(m, policy=policy.default) for m in self.messages]


@pytest.fixture
def inbox():
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    if handler.release:
        handler.release.set()
    controller.stop()


def trusting(config, cert: Path):
    """The config with [smtp] ca_file set to the test's certificate (sections are frozen)."""
    return dataclasses.replace(config, smtp=dataclasses.replace(config.smtp, ca_file=str(cert)))


def smtp_config(tmp_path: Path, port: int, security: str = "none", username: str = "",
                env: dict | None = None):
    extra = (f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "{security}"\n'
             f'username = "{username}"\ntimeout = 10\n')
    return make_config(tmp_path, extra, env=env)


def pending_ids(db) -> list[str]:
    return [r[0] for r in db.execute("SELECT id FROM alerts WHERE status != 'sent' ORDER BY id")]


# --- what the reader gets --------------------------------------------------------------------
class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags_of(html_text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = TagCollector()
    parser.feed(html_text)
    return parser.tags


def test_a_real_server_receives_the_episode_email_with_both_parts_and_the_chart(
        tmp_path, inbox, request):
    handler, port = inbox
    config = smtp_config(tmp_path, port)
    db = request.getfixturevalue("prepared_db")(tmp_path)
    queued = pending_ids(db)
    assert queued, "the demo storm should have queued an alert"
    sent, failures = alert_stage(db, config)
    assert (sent, failures) == (len(queued), [])
    assert pending_ids(db) == []
    messages = handler.parsed()
    assert sorted(m["Message-ID"] for m in messages) == sorted(message_id(a) for a in queued)

    opened = next(m for m in messages if ":open:" in m["X-Earful-Alert"])
    assert re.fullmatch(r"Larkspur: \d+ negative mentions in \d+ h, [\d.]+x usual — "
                        r"(mostly|all on) .+", opened["Subject"]), opened["Subject"]
    assert opened["To"] == "lead@example.com" and opened["From"] == "earful@example.com"
    assert opened.get_content_type() == "multipart/alternative"
    plain, related = opened.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, image = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert image.get_content_type() == "image/png"
    assert image.get_content_disposition() == "inline"
    png = image.get_content()
    assert png.startswith(PNG_MAGIC)
    from PIL import Image  # matplotlib's own dependency

    with Image.open(io.BytesIO(png)) as picture:
        picture.verify()
        assert picture.size[0] >= 600  # sharp at phone width (shown at ~360 CSS px, 2x)
    html_text = html_part.get_content()
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_text

    text = plain.get_content()
    # The same content in both parts: the numbers, the rule, the evidence link.
    for needle in ("negative mentions since", "Why this alert: rule", "Worst ",
                   f"{DATASETTE}/earful/episode_evidence?episode=Larkspur%2Fall%2F",
                   f"{DATASETTE}/earful/negative_last_24h?brand=Larkspur"):
        assert needle in text, needle
        assert needle.replace("&", "&amp;") in html_text, needle
    # Every link goes to the configured Datasette or to a mention's original page.
    hrefs = [a["href"] for tag, a in tags_of(html_text) if tag == "a"]
    assert hrefs
    assert all(h.startswith(DATASETTE + "/earful/") or h.startswith("https://demo.example/")
               for h in hrefs), hrefs
    row_links = [h for h in hrefs if "/earful/mentions/" in h]
    stored = {r[0] for r in db.execute("SELECT id FROM mentions")}
    # Datasette's tilde-encoded row URLs decode to real mention ids.
    from datasette.utils import tilde_decode

    assert row_links and all(tilde_decode(h.rsplit("/", 1)[1]) in stored for h in row_links)

    escalations = [m for m in messages if ":escalate:" in m["X-Earful-Alert"]]
    for m in escalations:  # replies in the thread of the first email
        assert m["In-Reply-To"] == opened["Message-ID"]
        assert opened["Message-ID"] in m["References"]
        assert m["Subject"].startswith("Still rising: Larkspur: ")
    db.close()


def test_hostile_mention_text_arrives_as_text(tmp_path, inbox):
    handler, port = inbox
    config = smtp_config(tmp_path, port)
    db = hostile_episode(config)
    assert alert_stage(db, config) == (1, [])
    msg = handler.parsed()[0]
    html_text = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    tags = tags_of(html_text)
    allowed = {"html", "head", "meta", "title", "body", "div", "p", "h1", "h2", "a", "span",
               "b", "table", "tr", "td", "img", "code"}
    assert {t for t, _ in tags} <= allowed
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]
    assert all(attrs["src"].startswith("cid:") for t, attrs in tags if t == "img")
    hrefs = [attrs["href"] for t, attrs in tags if t == "a"]
    assert all(h.startswith(DATASETTE + "/") for h in hrefs), hrefs  # javascript: is gone
    # The payloads are visible as text, so the reader sees what was posted...
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert "<script>alert(1)</script>" in text
    # ...and a look-alike link is neither a link nor auto-linkable text.
    assert "bank.example" not in html_text and "bank[.]example" in html_text
    assert "paypa1[.]example" in text and "https://paypa1.example" not in text
    for part in (html_text, text, msg["Subject"]):
        assert "\u202e" not in part and "\u200b" not in part
    db.close()


# --- TLS and authentication ---------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed: cannot make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def server_context(cert: Path, key: Path):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"earful" and auth_data.password == b"s3cret pass"
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_with_authentication_against_a_trusted_self_signed_server(
        tmp_path, certificate, security):
    cert, key = certificate
    handler, port = Inbox(), free_port()
    kwargs = ({"tls_context": server_context(cert, key), "require_starttls": True}
              if security == "starttls" else
              # aiosmtpd only counts STARTTLS as TLS for AUTH; implicit TLS is TLS all along.
              {"ssl_context": server_context(cert, key), "auth_require_tls": False})
    controller = Controller(handler, hostname="127.0.0.1", port=port, auth_required=True,
                            authenticator=authenticator, **kwargs)
    controller.start()
    try:
        config = smtp_config(tmp_path, port, security, "earful",
                             env={"EARFUL_SMTP_PASSWORD": "s3cret pass"})
        db = hostile_episode(config)
        # Not trusted yet: the certificate is verified, so delivery fails and waits.
        sent, failures = alert_stage(db, config)
        assert sent == 0 and len(failures) == 1 and "CERTIFICATE_VERIFY_FAILED" in failures[0]
        assert handler.messages == [] and pending_ids(db)
        config = trusting(config, cert)  # the [smtp] ca_file key
        assert alert_stage(db, config) == (1, [])
        assert handler.logins == ["earful"]
        assert len(handler.messages) == 1
        db.close()
    finally:
        controller.stop()


def test_a_wrong_password_keeps_the_alert_pending(tmp_path, certificate):
    cert, key = certificate
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, auth_required=True,
                            authenticator=authenticator, require_starttls=True,
                            tls_context=server_context(cert, key))
    controller.start()
    try:
        config = smtp_config(tmp_path, port, "starttls", "earful",
                             env={"EARFUL_SMTP_PASSWORD": "wrong"})
        config = trusting(config, cert)
        db = hostile_episode(config)
        sent, failures = alert_stage(db, config)
        assert sent == 0 and "535" in failures[0]
        assert pending_ids(db) and handler.messages == []
        # The password never reaches the outbox row or the failure message.
        assert "wrong" not in json.dumps(db.execute("SELECT * FROM alerts").fetchall())
        db.close()
    finally:
        controller.stop()


# --- exactly once -------------------------------------------------------------------------
def test_smtp_down_then_up_sends_each_alert_exactly_once(tmp_path, request):
    port = free_port()  # nothing listens here yet
    config = smtp_config(tmp_path, port)
    db = request.getfixturevalue("prepared_db")(tmp_path)
    queued = pending_ids(db)
    sent, failures = alert_stage(db, config)
    assert sent == 0 and len(failures) == len(queued)
    assert "127.0.0.1" in failures[0]
    rows = db.execute("SELECT status, attempts, last_error FROM alerts").fetchall()
    assert all(r[0] == "pending" and r[1] == 1 and r[2] for r in rows)

    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert alert_stage(db, config) == (len(queued), [])
        assert alert_stage(db, config) == (0, [])  # the next run finds nothing to send
        ids = [m["Message-ID"] for m in handler.parsed()]
        assert sorted(ids) == sorted(message_id(a) for a in queued)
        assert db.execute("SELECT count(*) FROM alerts WHERE status = 'sent' AND "
                          "last_error IS NULL").fetchone()[0] == len(queued)
    finally:
        controller.stop()
    db.close()


def overlapping_stages(config, entered: threading.Event,
                       release: threading.Event) -> dict[str, tuple]:
    """Two alert stages at once: the first is held inside its delivery (the receiver sets
    ``entered`` and waits for ``release``) while the second runs to completion."""
    results: dict[str, tuple] = {}

    def stage(name: str) -> None:
        db = store.connect(config.database)
        try:
            results[name] = alert_stage(db, config)
        finally:
            db.close()

    first = threading.Thread(target=stage, args=("first",))
    first.start()
    assert entered.wait(30), "the first stage never reached the receiver"
    stage("second")
    release.set()
    first.join(30)
    return results


def test_two_overlapping_alert_stages_send_once(tmp_path, inbox):
    handler, port = inbox
    config = smtp_config(tmp_path, port)
    hostile_episode(config).close()
    handler.release = threading.Event()
    results = overlapping_stages(config, handler.entered, handler.release)
    assert results == {"first": (1, []), "second": (0, [])}
    assert len(handler.messages) == 1


CRASH_AFTER_SEND = """
import os, sys
sys.path.insert(0, {root!r})
from earful import config as cfg, db as store
from earful.notify import mail, stage
import tomllib
path = {config!r}
config = cfg.parse(tomllib.loads(open(path).read()), path, env={{}})
real = mail.send_smtp
def send_then_die(*args, **kwargs):
    real(*args, **kwargs)
    os._exit(9)  # killed after the server accepted, before the row says "sent"
mail.send_smtp = send_then_die
stage.alert_stage(store.connect(config.database), config)
"""


def test_a_crash_after_sending_gives_the_reader_one_message(tmp_path, inbox):
    handler, port = inbox
    config = smtp_config(tmp_path, port)
    hostile_episode(config).close()
    script = CRASH_AFTER_SEND.format(root=str(ROOT), config=str(config.path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()
    assert len(handler.messages) == 1
    db = store.connect(config.database)
    assert db.execute("SELECT status FROM alerts").fetchone()[0] == "sending"
    # The next run takes over the dead process's claim and sends again: same Message-ID.
    assert alert_stage(db, config) == (1, [])
    assert alert_stage(db, config) == (0, [])
    ids = {m["Message-ID"] for m in handler.parsed()}
    assert len(handler.messages) == 2 and len(ids) == 1
    assert ids == {db.execute("SELECT message_id FROM alerts").fetchone()[0]}
    db.close()
