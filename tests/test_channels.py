"""Slack, Teams and generic webhooks against a real HTTP receiver on 127.0.0.1.

Each payload is checked against the shape the service documents (Slack Block Kit for
incoming webhooks; a Teams message carrying an Adaptive Card; our own JSON), and delivery
against the outbox's promises: a receiver down then up gets the alert once, two overlapping
runs send once, a run killed between a 200 and its recording repeats at most once with the
same idempotency key, and one channel down does not hold back the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from collectors.base import Mention
from earful import db as store
from earful import pipeline
from earful.notify.stage import alert_stage
from tests.conftest import NOW, ROOT, make_config
from tests.test_alerts import hostile_episode
from tests.test_smtp import free_port, overlapping_stages
from tests.test_stages import demo_mentions

SECRET = "T0000/B0000/XXXXsecretXXXX"  # what a real webhook URL hides in its path
CHANNELS = """
[channels.support]
type = "slack"
[channels.ops]
type = "teams"
[channels.hook]
type = "webhook"
"""


class Receiver:
    """A webhook receiver: records each POST (path, headers, JSON); per-path status codes;
    can hold a request open until released, and be stopped and started on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.posts: list[dict[str, Any]] = []
        self.status: dict[str, int] = {}
        self.hold: threading.Event | None = None
        self.entered = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.entered.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                kind = self.path.split("/")[1]
                status = receiver.status.get(kind, 200)
                if status == 200:
                    receiver.posts.append({"kind": kind, "path": self.path,
                                           "key": self.headers["Idempotency-Key"],
                                           "json": json.loads(body)})
                answer = b"ok" if status == 200 else b"no_service"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [p for p in self.posts if p["kind"] == kind]


@pytest.fixture
def receiver():
    r = Receiver(free_port()).start()
    yield r
    if r.hold:
        r.hold.set()
    r.stop()


def channel_config(tmp_path: Path, port: int, extra: str = ""):
    env = {f"EARFUL_{name}_WEBHOOK_URL": f"http://127.0.0.1:{port}/{kind}/{SECRET}"
           for name, kind in (("SUPPORT", "slack"), ("OPS", "teams"), ("HOOK", "webhook"))}
    return make_config(tmp_path, CHANNELS + extra, env=env)


def deliveries(db) -> dict[str, str]:
    return {f"{r[0].split(':')[0]}|{r[1]}": r[2] for r in db.execute(
        "SELECT alert_id, channel, status FROM alert_deliveries")}


# --- payload shapes -----------------------------------------------------------------------
def check_slack(payload: dict[str, Any]) -> None:
    """Slack incoming webhook: ``text`` (the notification fallback) and Block Kit ``blocks``."""
    assert set(payload) == {"text", "blocks"} and isinstance(payload["text"], str)
    allowed = {"header", "section", "image", "actions", "context", "divider"}
    for block in payload["blocks"]:
        assert block["type"] in allowed
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert block["text"]["type"] in ("plain_text", "mrkdwn")
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "image":
            assert block["image_url"].startswith("http") and block["alt_text"]
        if block["type"] == "actions":
            for button in block["elements"]:
                assert button["type"] == "button" and button["url"].startswith("http")
                assert button["text"]["type"] == "plain_text"
        if block["type"] == "context":
            assert all(e["type"] in ("plain_text", "mrkdwn", "image") for e in block["elements"])
    assert payload["blocks"][0]["type"] == "header"


def check_teams(payload: dict[str, Any]) -> None:
    """Teams incoming webhook: a ``message`` whose attachment is an Adaptive Card."""
    assert payload["type"] == "message" and len(payload["attachments"]) == 1
    attachment = payload["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] in ("1.2", "1.3", "1.4", "1.5")
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            assert item["type"] in ("TextBlock", "Image", "Container", "FactSet", "ColumnSet")
            if item["type"] == "TextBlock":
                assert isinstance(item["text"], str) and item["text"]
            if item["type"] == "Image":
                assert item["url"].startswith("http")
            walk(item.get("items", []))

    walk(card["body"])
    for action in card.get("actions", []):
        assert action["type"] == "Action.OpenUrl" and action["url"].startswith("http")


def test_each_service_gets_its_documented_payload_with_the_evidence(tmp_path, receiver):
    config = channel_config(tmp_path, receiver.port)
    db = store.connect(config.database)
    with db.atomic():
        store.save_mentions(db, "Larkspur", demo_mentions(NOW), run_id=1)
    pipeline.score(db, config, show_progress=False)
    pipeline.detect(db, config, now=NOW)  # queues each episode alert for email and 3 channels
    sent, failures = alert_stage(db, config)
    assert failures == [] and sent >= 1
    episodes = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
    assert [len(receiver.of(k)) for k in ("slack", "teams", "webhook")] == [episodes] * 3
    slack = receiver.of("slack")[0]["json"]
    check_slack(slack)
    header = slack["blocks"][0]["text"]["text"]
    assert header.startswith("Larkspur: ") and "negative mentions in" in header
    # The three worst mentions, the link to the evidence, the chart served by Datasette.
    quotes = [b for b in slack["blocks"] if b["type"] == "section"
              and b["text"]["text"].startswith("“")]
    assert len(quotes) == 3
    buttons = next(b for b in slack["blocks"] if b["type"] == "actions")["elements"]
    assert "/earful/episode_evidence?episode=" in buttons[0]["url"]
    image = next(b for b in slack["blocks"] if b["type"] == "image")
    assert image["image_url"].startswith("https://earful.example.com/-/earful/chart.png?")
    teams = receiver.of("teams")[0]["json"]
    check_teams(teams)
    texts = [i["text"] for i in teams["attachments"][0]["content"]["body"]
             if i["type"] == "TextBlock"]
    assert texts[0] == header
    hook = receiver.of("webhook")[0]
    assert hook["json"]["idempotency_key"] == hook["key"]
    assert hook["json"]["headline"] == header and len(hook["json"]["mentions"]) == 3
    # Email still goes out too (alerts.recipients), and every delivery is recorded.
    assert len(list(Path(config.alerts.outbox).glob("*.eml"))) == episodes
    assert set(deliveries(db).values()) == {"sent"}
    # The webhook URLs are secrets: not in the database.
    dump = "\n".join(db.iterdump())
    assert SECRET not in dump and "127.0.0.1" not in dump
    db.close()
    # The chart image is served by earful's Datasette plugin, from the same database.
    from datasette.app import Datasette

    ds = Datasette([str(config.database)])
    path = image["image_url"].removeprefix("https://earful.example.com")
    response = asyncio.run(ds.client.get(path))
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n") and len(response.content) > 5000
    missing = asyncio.run(ds.client.get("/-/earful/chart.png?database=earful&episode=nope"))
    assert missing.status_code == 404


def test_hostile_mention_text_stays_plain_in_slack(tmp_path, receiver):
    config = channel_config(tmp_path, receiver.port)
    db = hostile_episode(config)
    assert alert_stage(db, config) == (1, [])
    slack = json.dumps(receiver.of("slack")[0]["json"])
    # No link syntax Slack would act on: the URL-looking text is defanged, javascript: gone.
    assert "javascript:" not in slack and "https://paypa1.example" not in slack
    assert "paypa1[.]example" in slack
    db.close()


# --- delivery promises --------------------------------------------------------------------
def test_a_receiver_down_then_up_gets_the_alert_once_and_email_is_not_held_back(tmp_path,
                                                                                receiver):
    config = channel_config(tmp_path, receiver.port)
    db = hostile_episode(config)
    receiver.stop()
    sent, failures = alert_stage(db, config)
    assert sent == 0 and len(failures) == 1
    assert "channel support" in failures[0] and SECRET not in failures[0]
    assert deliveries(db) == {f"{k}|{c}": s for k, c, s in (
        ("Larkspur/all/2026-11-23T07", "email", "sent"), ("Larkspur/all/2026-11-23T07", "hook",
         "pending"), ("Larkspur/all/2026-11-23T07", "ops", "pending"),
        ("Larkspur/all/2026-11-23T07", "support", "pending"))}
    assert len(list(Path(config.alerts.outbox).glob("*.eml"))) == 1
    receiver.start()
    assert alert_stage(db, config) == (1, [])
    assert alert_stage(db, config) == (0, [])
    assert [len(receiver.of(k)) for k in ("slack", "teams", "webhook")] == [1, 1, 1]
    assert SECRET not in "\n".join(db.iterdump())
    db.close()


def test_one_channel_refusing_does_not_hold_back_the_others(tmp_path, receiver):
    config = channel_config(tmp_path, receiver.port)
    db = hostile_episode(config)
    receiver.status["slack"] = 404  # Slack's answer for a removed webhook
    sent, failures = alert_stage(db, config)
    assert sent == 0 and "channel support: HTTP 404 no_service" in failures[0]
    assert [len(receiver.of(k)) for k in ("slack", "teams", "webhook")] == [0, 1, 1]
    receiver.status.clear()
    assert alert_stage(db, config) == (1, [])
    # Only the channel that failed is tried again.
    assert [len(receiver.of(k)) for k in ("slack", "teams", "webhook")] == [1, 1, 1]
    db.close()


def test_two_overlapping_runs_post_once(tmp_path, receiver):
    config = channel_config(tmp_path, receiver.port)
    hostile_episode(config).close()
    receiver.hold = threading.Event()
    results = overlapping_stages(config, receiver.entered, receiver.hold)
    assert results == {"first": (1, []), "second": (0, [])}
    assert [len(receiver.of(k)) for k in ("slack", "teams", "webhook")] == [1, 1, 1]


KILL_AFTER_200 = """
import os, sys
sys.path.insert(0, {root!r})
import tomllib
from earful import config as cfg, db as store
from earful.notify import outbox, stage
path = {config!r}
config = cfg.parse(tomllib.loads(open(path).read()), path, env={env!r})
real = outbox.mark_delivered
def record_or_die(db, alert_id, channel, *args, **kwargs):
    if channel == "support":
        os._exit(9)  # the receiver answered 200; killed before the row says "sent"
    real(db, alert_id, channel, *args, **kwargs)
outbox.mark_delivered = record_or_die
stage.alert_stage(store.connect(config.database), config)
"""


def test_a_kill_between_200_and_recording_repeats_once_with_the_same_key(tmp_path, receiver):
    config = channel_config(tmp_path, receiver.port)
    hostile_episode(config).close()
    env = {f"EARFUL_{n}_WEBHOOK_URL": f"http://127.0.0.1:{receiver.port}/{k}/{SECRET}"
           for n, k in (("SUPPORT", "slack"), ("OPS", "teams"), ("HOOK", "webhook"))}
    script = KILL_AFTER_200.format(root=str(ROOT), config=str(config.path), env=env)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()
    assert len(receiver.of("slack")) == 1
    db = store.connect(config.database)
    assert alert_stage(db, config) == (1, [])
    assert alert_stage(db, config) == (0, [])
    slack = receiver.of("slack")
    assert len(slack) == 2 and slack[0]["key"] == slack[1]["key"]
    assert slack[0]["key"] in json.dumps(slack[0]["json"])  # and in the message itself
    # Channels recorded before the kill are not repeated.
    assert len(receiver.of("webhook")) == 1 and len(receiver.of("teams")) == 1
    db.close()


def test_a_webhook_url_in_the_config_file_is_refused(tmp_path):
    from earful.config import ConfigError

    with pytest.raises(ConfigError, match="EARFUL_SUPPORT_WEBHOOK_URL"):
        make_config(tmp_path, '[channels.support]\ntype = "slack"\nurl = "https://x"\n')
    with pytest.raises(ConfigError, match="set EARFUL_SUPPORT_WEBHOOK_URL"):
        make_config(tmp_path, '[channels.support]\ntype = "slack"\n')


def test_dry_run_names_the_channels_and_posts_nothing(tmp_path, receiver):
    config = channel_config(tmp_path, receiver.port)
    db = hostile_episode(config)
    printed: list[str] = []
    assert alert_stage(db, config, dry_run=True, echo=printed.append) == (0, [])
    assert printed[0].startswith("--- would send Larkspur/all/")
    assert "to lead@example.com and channels hook, ops, support" in printed[0]
    assert receiver.posts == [] and set(deliveries(db).values()) == {"pending"}
    db.close()


def test_per_channel_modes_instant_alerts_and_digests(tmp_path, receiver):
    # support (Slack) wants instant alerts; hook (webhook) only the daily digest.
    config = channel_config(tmp_path, receiver.port, '\n[[alerts.instant]]\nbrand = "Larkspur"\n')
    config = dataclasses.replace(config, channels=tuple(
        dataclasses.replace(c, mode="digest") if c.name == "hook" else c
        for c in config.channels if c.name != "ops"))
    db = store.connect(config.database)
    review = Mention(source="trustpilot", native_id="r1", kind="review", target="t",
                     created_at="2026-11-22T20:00:00Z", author="ann",
                     body="Larkspur is a scam, charged twice and no reply", rating=1.0)
    with db.atomic():
        store.save_mentions(db, "Larkspur", [review], run_id=1)
    pipeline.score(db, config, show_progress=False)
    sent, failures = alert_stage(db, config, now=NOW)
    assert failures == [] and sent == 2  # the instant alert and yesterday's digest
    [slack] = receiver.of("slack")
    check_slack(slack["json"])
    blocks = json.dumps(slack["json"])
    assert "Why now: mentions \\u201cscam\\u201d" in blocks
    assert "charged twice and no reply" in blocks
    [hook] = receiver.of("webhook")
    assert hook["json"]["kind"] == "digest" and hook["json"]["alert_id"] == (
        "digest:daily:2026-11-22")
    db.close()


def test_a_channel_removed_from_the_config_stops_being_retried(tmp_path, receiver):
    config = channel_config(tmp_path, receiver.port)
    db = hostile_episode(config)
    receiver.status["slack"] = 500
    assert alert_stage(db, config)[0] == 0
    config = dataclasses.replace(config, channels=tuple(
        c for c in config.channels if c.name != "support"))
    assert alert_stage(db, config) == (1, [])
    assert db.execute("SELECT delivered_to FROM alert_deliveries WHERE channel = 'support'"
                      ).fetchone()[0] == "not sent: [channels.support] was removed from the config"
    assert receiver.of("slack") == []
    db.close()


def test_no_chart_image_when_datasette_is_only_on_this_machine(tmp_path, receiver):
    # Slack rejects a message whose image it cannot fetch: a 127.0.0.1 Datasette gets none.
    config = channel_config(tmp_path, receiver.port)
    config = dataclasses.replace(config, earful={**config.earful,
                                                 "datasette_url": "http://127.0.0.1:8001"})
    db = store.connect(config.database)
    with db.atomic():
        store.save_mentions(db, "Larkspur", demo_mentions(NOW), run_id=1)
    pipeline.score(db, config, show_progress=False)
    pipeline.detect(db, config, now=NOW)
    assert alert_stage(db, config)[1] == []
    slack = receiver.of("slack")[0]["json"]
    assert "image" not in [b["type"] for b in slack["blocks"]]
    assert receiver.of("webhook")[0]["json"]["chart_url"] is None
    db.close()
