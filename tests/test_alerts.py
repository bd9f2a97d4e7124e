"""Alert emails on a real SQLite file: content, digests, source-health emails, phone rendering.

Delivery through a real SMTP server is in test_smtp.py; here alerts go to the .eml outbox
(no [smtp]), which is what the demo and `earful alert` without SMTP produce.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from email import policy
from pathlib import Path

import pytest

from collectors.base import Mention
from earful import db as store
from earful import digest, pipeline
from earful.alerts import alert_stage, queue_alert
from earful.config import Subscriber
from tests.conftest import NOW, ROOT, make_config
from tests.helpers import chromium
from tests.test_stages import demo_mentions

DATASETTE = "https://earful.example.com"
EPISODE = "Larkspur/all/2026-11-23T07:00:00Z"


@pytest.fixture(scope="module")
def _demo_file(tmp_path_factory):
    """The demo data saved, scored and run through detection once; copied per test."""
    folder = tmp_path_factory.mktemp("demo")
    config = make_config(folder)
    db = store.connect(config.database)
    with db.atomic():
        store.save_mentions(db, "Larkspur", demo_mentions(NOW), run_id=1)
    pipeline.score(db, config, show_progress=False)
    pipeline.detect(db, config, now=NOW)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return config.database


@pytest.fixture
def prepared_db(_demo_file):
    def make(tmp_path: Path):
        shutil.copy(_demo_file, tmp_path / "earful.db")
        return store.connect(tmp_path / "earful.db")
    return make


def with_alerts(config, **changes):
    """The config with some [alerts] keys changed (config sections are frozen)."""
    if "subscribers" in changes:
        changes["subscribers"] = tuple(Subscriber(**s) for s in changes["subscribers"])
    return dataclasses.replace(config, alerts=dataclasses.replace(config.alerts, **changes))


def hostile_episode(config):
    """One episode whose only mention is hostile, queued for alerting, scored."""
    db = store.connect(config.database)
    hostile = Mention(
        source="reddit", native_id="x1", kind="post", target="t",
        created_at="2026-11-23T07:10:00Z", author="<b>mallory</b>\u200b",
        title="Larkspur <script>alert(1)</script> <img src=x onerror=alert(2)>",
        body='awful scam \u202egnp.exe <a href="https://evil.example">https://bank.example</a>'
             " log in at https://paypa1.example/login",
        url="javascript:alert(3)")
    with db.atomic():
        store.save_mentions(db, "Larkspur", [hostile])
        db.table("episodes").insert({
            "id": EPISODE, "brand": "Larkspur", "series": "all", "status": "open",
            "opened_at": "2026-11-23T07:00:00Z", "rule": "negative-burst",
            "params": json.dumps({"rho": 3.0}), "count": 1, "expected": 0.1,
            "baseline_share": 0.2, "summary": "s", "updated_at": "x"})
        queue_alert(db, config, kind="open", episode_id=EPISODE, brand="Larkspur",
                    event_at="2026-11-23T07:00:00Z")
    pipeline.score(db, config, show_progress=False)
    return db


def outbox(config) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(Path(config.alerts["outbox"]).glob("*.eml"))]


# --- the episode email --------------------------------------------------------------------
def test_the_email_says_how_big_where_and_since_when_in_its_first_lines(tmp_path, prepared_db):
    config = make_config(tmp_path)
    db = prepared_db(tmp_path)
    alert_stage(db, config)
    msg = next(m for m in outbox(config) if ":open:" in m["X-Earful-Alert"])
    episode = db.execute("SELECT opened_at, baseline_share, rule FROM episodes").fetchone()
    text = msg.get_body(("plain",)).get_content()
    lines = text.splitlines()
    count = int(re.match(r"Larkspur: (\d+) negative mentions in (\d+) h", msg["Subject"])[1])
    # The count in the subject is what the database holds for the window it names.
    since = re.search(r"since (\w{3} \d+ \w{3} \d\d:\d\d) UTC", lines[2])[1]
    start = dt.datetime.strptime(f"2026 {since}", "%Y %a %d %b %H:%M").replace(tzinfo=dt.UTC)
    hours = int(re.search(r"in (\d+) h", msg["Subject"])[1])
    in_db = db.execute(
        "SELECT count(*) FROM mention_sentiments WHERE brand = 'Larkspur' AND label = "
        "'negative' AND created_at >= ? AND created_at < ?",
        [store.iso(start), store.iso(start + dt.timedelta(hours=hours))]).fetchone()[0]
    assert count == in_db
    assert lines[2].startswith(f"{count} negative mentions since ")
    assert "usual" in lines[2]
    assert f"usually {episode[1]:.0%}" in lines[3]
    assert lines[4].startswith("Where: ")
    assert f"rule {episode[2].split('+')[0]}" in text
    assert msg["Subject"].split(" — ")[1].startswith(("mostly ", "all on "))
    # The demo storm is customers charged twice: that is what the complaints line says.
    complaints = [line for line in lines if line.startswith("What people complain about: ")]
    assert len(complaints) == 1 and "charged" in complaints[0]
    db.close()


def test_the_email_goes_out_without_the_complaints_when_terms_fail(tmp_path, prepared_db,
                                                                    monkeypatch):
    from analysis import terms

    def broken(*args, **kwargs):
        raise RuntimeError("bug in terms")

    monkeypatch.setattr(terms, "complaints", broken)
    config = make_config(tmp_path)
    db = prepared_db(tmp_path)
    sent, failures = alert_stage(db, config)
    assert sent >= 1 and failures == []
    assert all("complain" not in m.get_body(("plain",)).get_content() for m in outbox(config))
    db.close()


def test_dry_run_prints_and_writes_nothing(tmp_path, prepared_db):
    config = make_config(tmp_path)
    config = with_alerts(config, subscribers=[{"email": "weekly@example.com", "mode": "digest",
                                               "digest": "weekly"}])
    db = prepared_db(tmp_path)
    before = db.execute("SELECT id, status, attempts FROM alerts ORDER BY id").fetchall()
    printed: list[str] = []
    assert alert_stage(db, config, dry_run=True, echo=printed.append, now=NOW) == (0, [])
    assert db.execute("SELECT id, status, attempts FROM alerts ORDER BY id").fetchall() == before
    assert not Path(config.alerts["outbox"]).exists()
    assert len(printed) == len(before) + 1  # the weekly digest it would queue, too
    assert any("Subject: earful weekly digest" in p for p in printed)
    db.close()


def test_the_closing_note_is_optional_and_replies_in_the_thread(tmp_path):
    config = make_config(tmp_path)
    config = with_alerts(config, send_closing_note=True)
    db = store.connect(config.database)
    # The demo's storm runs 13:00-21:00 the day before its data end: ending the data at
    # 23:00 leaves a day of ordinary traffic after it, then two quiet days to NOW.
    end = (NOW - dt.timedelta(days=3)).replace(hour=23)
    with db.atomic():
        store.save_mentions(db, "Larkspur", demo_mentions(end))
    pipeline.score(db, config, show_progress=False)
    pipeline.detect(db, config, now=NOW)
    # Brand-wide episodes mail; a source's episode inside one does not (tests/test_stages.py).
    closed = db.execute("SELECT id FROM episodes WHERE status = 'closed' AND series = 'all'"
                        ).fetchall()
    assert closed, "the detector did not close the demo's storm episode"
    alert_stage(db, config)
    messages = outbox(config)
    notes = [m for m in messages if ":close:" in m["X-Earful-Alert"]]
    first = next(m for m in messages if ":open:" in m["X-Earful-Alert"])
    assert len(notes) == len(closed)
    assert notes[0]["Subject"].startswith("Over: Larkspur negative episode ended")
    assert notes[0]["In-Reply-To"] == first["Message-ID"]
    assert "The episode is over." in notes[0].get_body(("plain",)).get_content()
    db.close()


# --- digests ------------------------------------------------------------------------------
SUBSCRIBERS = [
    {"email": "daily@example.com", "mode": "digest", "digest": "daily"},
    {"email": "both@example.com", "mode": "both", "digest": "weekly"},
    {"email": "instant@example.com", "mode": "instant"},
]


def test_digests_go_once_per_period_to_who_asked_for_them(tmp_path, prepared_db):
    config = make_config(tmp_path)
    config = with_alerts(config, subscribers=SUBSCRIBERS)
    db = prepared_db(tmp_path)
    alert_stage(db, config, now=NOW)  # Monday 09:00: yesterday's and last week's are due
    alert_stage(db, config, now=NOW + dt.timedelta(hours=2))  # same periods: nothing new
    digests = {r[0]: json.loads(r[1]) for r in db.execute(
        "SELECT id, recipients FROM alerts WHERE kind = 'digest'")}
    assert digests == {"digest:daily:2026-11-22": ["daily@example.com"],
                       "digest:weekly:2026-11-16": ["both@example.com"]}
    daily = next(m for m in outbox(config) if m["X-Earful-Alert"] == "digest:daily:2026-11-22")
    negatives = db.execute(
        "SELECT count(*) FROM mention_sentiments WHERE brand = 'Larkspur' AND label = "
        "'negative' AND created_at >= '2026-11-22' AND created_at < '2026-11-23'").fetchone()[0]
    day_before = db.execute(
        "SELECT count(*) FROM mention_sentiments WHERE brand = 'Larkspur' AND label = "
        "'negative' AND created_at >= '2026-11-21' AND created_at < '2026-11-22'").fetchone()[0]
    assert daily["Subject"] == (f"earful daily digest, Sun 22 Nov: Larkspur {negatives} negative "
                                f"({digest.trend(negatives, day_before, 'daily')})")
    assert f"{DATASETTE}/earful/negative_last_24h?brand=Larkspur" in \
        daily.get_body(("plain",)).get_content()
    assert any(p.get_content_type() == "image/png" for p in daily.walk())
    # Instant alerts go to the instant subscribers, not to digest-only ones.
    episode_recipients = json.loads(db.execute(
        "SELECT recipients FROM alerts WHERE kind = 'open'").fetchone()[0])
    assert "daily@example.com" not in episode_recipients
    # The next day, the next daily digest; the weekly one waits for next Monday.
    alert_stage(db, config, now=NOW + dt.timedelta(days=1))
    assert db.execute("SELECT count(*) FROM alerts WHERE kind = 'digest'").fetchone()[0] == 3
    db.close()


def test_instant_subscribers_get_episode_alerts(tmp_path):
    config = make_config(tmp_path)
    config = with_alerts(config, subscribers=SUBSCRIBERS)
    db = hostile_episode(config)
    assert json.loads(db.execute("SELECT recipients FROM alerts").fetchone()[0]) == [
        "lead@example.com", "both@example.com", "instant@example.com"]
    db.close()


def test_digest_periods_are_the_last_closed_day_and_week():
    monday_early = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)
    assert digest.period("daily", NOW, 7)[0].day == 22
    assert digest.period("daily", monday_early, 7)[0].day == 21  # not yet digest_hour
    assert digest.period("weekly", NOW, 7) == (dt.datetime(2026, 11, 16, tzinfo=dt.UTC),
                                                dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    assert digest.period("weekly", monday_early, 7)[0].day == 9


# --- source health ------------------------------------------------------------------------
def record(db, status: str, at: str, new_rows: int = 0, message: str | None = None) -> None:
    run_id = store.start_run(db, "run", os.getpid())
    with db.atomic():
        store.record_source_run(db, {
            "run_id": run_id, "brand": "Larkspur", "source": "trustpilot",
            "target": "https://www.trustpilot.com/review/larkspur.example", "started_at": at,
            "finished_at": at, "status": status, "new_rows": new_rows, "message": message})


def health_rows(db) -> list[tuple]:
    return db.execute("SELECT id, kind, thread_id, message_id FROM alerts WHERE kind IN "
                      "('health', 'recovery') ORDER BY created_at, id").fetchall()


def test_a_failing_source_gives_one_email_per_streak_and_one_on_recovery(tmp_path):
    config = make_config(tmp_path)
    db = store.connect(config.database)
    record(db, "ok", "2026-11-22T06:00:00Z", new_rows=4)
    error = "trustpilot: HTTP 403 <b>Forbidden</b> from www.trustpilot.com"
    for hour in (7, 8):
        record(db, "error", f"2026-11-22T0{hour}:00:00Z", message=error)
    assert alert_stage(db, config) == (0, [])  # two failures: not yet a streak
    record(db, "error", "2026-11-22T09:00:00Z", message=error)
    assert alert_stage(db, config) == (1, [])
    record(db, "error", "2026-11-22T10:00:00Z", message=error)
    assert alert_stage(db, config) == (0, [])  # the same streak: no second email
    [(down_id, _, _, down_mid)] = health_rows(db)
    msg = outbox(config)[0]
    assert msg["Subject"] == ("earful: Larkspur Trustpilot failing — 3 runs in a row since "
                              "Sun 22 Nov 07:00 UTC")
    body = msg.get_body(("plain",)).get_content()
    assert "HTTP 403" in body and "last worked Sun 22 Nov 06:00 UTC" in body
    assert "<b>Forbidden" not in msg.get_body(("html",)).get_content()
    record(db, "ok", "2026-11-22T11:00:00Z", new_rows=2)
    assert alert_stage(db, config) == (1, [])
    assert alert_stage(db, config) == (0, [])
    rows = health_rows(db)
    assert [r[1] for r in rows] == ["health", "recovery"]
    assert rows[1][2] == down_mid  # the recovery replies in the same thread
    recovered = next(m for m in outbox(config) if m["X-Earful-Alert"] == rows[1][0])
    assert recovered["Subject"] == "earful: Larkspur Trustpilot is collecting again"
    assert recovered["In-Reply-To"] == down_mid
    # A new streak later is a new email.
    for hour in (12, 13, 14):
        record(db, "error", f"2026-11-22T{hour}:00:00Z", message=error)
    assert alert_stage(db, config) == (1, [])
    assert len(health_rows(db)) == 3
    db.close()


def test_health_emails_can_be_switched_off(tmp_path):
    config = make_config(tmp_path)
    config = with_alerts(config, health_alerts=False)
    db = store.connect(config.database)
    for hour in (7, 8, 9):
        record(db, "error", f"2026-11-22T0{hour}:00:00Z", message="down")
    assert alert_stage(db, config) == (0, [])
    db.close()


# --- on a phone ---------------------------------------------------------------------------


def browser_html(msg: email.message.EmailMessage) -> str:
    """The HTML part with its cid: images inlined as data: URLs, as a mail app shows it."""
    html_text = msg.get_body(("html",)).get_content()
    for part in msg.walk():
        if part.get_content_type() == "image/png":
            data = base64.b64encode(part.get_content()).decode()
            html_text = html_text.replace(f"cid:{part['Content-ID'].strip('<>')}",
                                          f"data:image/png;base64,{data}")
    return html_text


def run_chromium(args: list[str], page: Path) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp()
    try:
        return subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             "--disable-sync", "--disable-quic", f"--user-data-dir={profile}",
             "--hide-scrollbars", *args, page.as_uri()],
            capture_output=True, timeout=120, check=True)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def phone_size(msg: email.message.EmailMessage, tmp_path: Path) -> tuple[int, int]:
    """The widest thing on the page and its height, measured by the browser in a 390 px
    frame (headless Chromium's own window is never narrower than 500 px)."""
    page = tmp_path / "measure.html"
    page.write_text(
        '<iframe id="f" style="width:390px;height:900px;border:0" srcdoc="'
        + html.escape(browser_html(msg)) + '"></iframe><script>'
        "document.getElementById('f').onload = function () {"
        " var d = this.contentDocument.documentElement;"
        " document.title = 'W' + d.scrollWidth + 'H' + d.scrollHeight; };</script>")
    dom = run_chromium(["--window-size=600,1000", "--virtual-time-budget=5000",
                        "--dump-dom"], page).stdout.decode()
    width, height = map(int, re.search(r"<title>W(\d+)H(\d+)</title>", dom).groups())
    return width, height


def screenshot(msg: email.message.EmailMessage, out: Path, height: int = 2000) -> Path:
    page = Path(tempfile.mkdtemp()) / "email.html"
    page.write_text(browser_html(msg))
    run_chromium(["--force-device-scale-factor=2", f"--window-size=390,{height}",
                  f"--screenshot={out}"], page)
    return out


def test_the_email_fits_a_phone_screen_without_sideways_scrolling(tmp_path, prepared_db):
    config = make_config(tmp_path)
    db = prepared_db(tmp_path)
    alert_stage(db, config)
    msg = next(m for m in outbox(config) if ":open:" in m["X-Earful-Alert"])
    width, height = phone_size(msg, tmp_path)
    assert width <= 390, f"the email is {width} px wide at a 390 px phone width"
    shot = screenshot(msg, tmp_path / "email.png", height=min(height, 4000))
    from PIL import Image

    with Image.open(shot) as picture:
        assert picture.size == (780, min(height, 4000) * 2)
        # Not a blank page: the chart's red bars and the text are there.
        colors = picture.convert("RGB").getcolors(maxcolors=1 << 20)
        assert len(colors) > 50
    if os.environ.get("EARFUL_WRITE_DOCS"):  # refresh the README's picture
        (ROOT / "docs").mkdir(exist_ok=True)
        screenshot(msg, ROOT / "docs" / "alert-email.png", height=1500)
    db.close()
