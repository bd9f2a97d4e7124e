"""The alert email under hostile text and a hostile or broken delivery path: a link's label
never lies, bare look-alike domains are defanged, invisible characters go, a 421 to QUIT
after the server accepted sends no second copy, a full disk leaves no half-written file."""

from __future__ import annotations

import email
import os
import re
import socket
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from collectors.base import Mention
from earful import db as store
from earful import pipeline
from earful.alerts import alert_stage
from tests.conftest import make_config
from tests.test_alerts import hostile_episode

TAGS = "".join(chr(0xE0000 + ord(c)) for c in "hidden")  # invisible tag characters
EVIL_URL = "https://evil.example\\@larkspur.example/"


def episode_with(config, mention: Mention):
    """test_alerts' hostile episode, queued for alerting, with ``mention`` in it as well."""
    db = hostile_episode(config)
    with db.atomic():
        store.save_mentions(db, "Larkspur", [mention])
    pipeline.score(db, config, show_progress=False)
    return db


def hostile(url: str = EVIL_URL) -> Mention:
    return Mention(source="reddit", native_id="x2", kind="post", target="t",
                   created_at="2026-11-23T07:10:00Z", author="mallory",
                   title="Larkspur is a scam",
                   body=f"awful scam, log in at paypa1.com/login to get a refund \u061c{TAGS} now",
                   url=url)


def links(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<a [^>]*href="([^"]*)"[^>]*>(.*?)</a>', html, re.S)


def test_the_email_never_labels_a_link_with_a_host_it_does_not_open(tmp_path):
    config = make_config(tmp_path)
    db = episode_with(config, hostile())
    sent, failures = alert_stage(db, config)
    assert (sent, failures) == (1, [])
    raw = next(Path(config.alerts["outbox"]).glob("*.eml")).read_bytes()
    msg = email.message_from_bytes(raw, policy=policy.default)
    page = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    for href, label in links(page):
        assert "evil.example" not in href and "larkspur.example" not in href, (href, label)
    assert "larkspur.example" not in page and "larkspur.example" not in text
    assert "paypa1[.]com/login" in text and "paypa1[.]com/login" in page
    assert "paypa1.com" not in text and "paypa1.com" not in page
    for part in (text, page, msg["Subject"]):
        assert "\u061c" not in part
        assert not any(0xE0000 <= ord(c) <= 0xE007F for c in part)
    db.close()


def test_an_honest_link_is_still_clickable_and_labelled_with_its_host(tmp_path):
    config = make_config(tmp_path)
    db = episode_with(config, hostile("https://www.reddit.com/r/larkspur/comments/x2/"))
    alert_stage(db, config)
    raw = next(Path(config.alerts["outbox"]).glob("*.eml")).read_bytes()
    page = email.message_from_bytes(raw, policy=policy.default).get_body(("html",)).get_content()
    assert ("https://www.reddit.com/r/larkspur/comments/x2/", "original") in links(page)
    assert "(reddit.com)" in page  # the label beside it: its real host
    db.close()


class QuitRefused:
    """An SMTP server that accepts the message and then answers QUIT with 421."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope.original_content or envelope.content)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802
        return "421 4.3.2 Service shutting down"


def test_a_421_to_quit_after_acceptance_sends_no_second_copy(tmp_path):
    handler = QuitRefused()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = make_config(tmp_path, f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\n'
                                       f'security = "none"\ntimeout = 10\n')
        db = episode_with(config, hostile())
        assert alert_stage(db, config) == (1, [])
        assert alert_stage(db, config) == (0, [])  # the next run: nothing left to send
        assert len(handler.messages) == 1
        assert db.execute("SELECT status FROM alerts").fetchall() == [("sent",)]
        db.close()
    finally:
        controller.stop()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to fill a disk")
def test_a_full_disk_leaves_no_half_written_file_in_the_outbox(tmp_path):
    config = make_config(tmp_path)
    db = episode_with(config, hostile())
    outbox = Path(config.alerts["outbox"])
    outbox.mkdir(parents=True)
    alert_id = db.execute("SELECT id FROM alerts").fetchone()[0]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", alert_id).strip("-")[:120]
    # The temporary file earful writes first lands on a device that is always full.
    (outbox / f"{slug}.tmp{os.getpid()}").symlink_to("/dev/full")
    sent, failures = alert_stage(db, config)
    assert sent == 0 and failures and "No space left" in failures[0], failures
    assert list(outbox.iterdir()) == []
    assert db.execute("SELECT status FROM alerts").fetchone()[0] != "sent"
    # Space again: the next run writes it.
    assert alert_stage(db, config)[0] == 1
    assert [p.suffix for p in outbox.iterdir()] == [".eml"]
    db.close()
