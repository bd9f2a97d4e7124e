"""Instant alerts on a real SQLite file: a mention that should not wait for a spike.

A 1-star review, a severity term, a post with reach each alert at once (email here, the
.eml outbox); beyond the hourly cap they wait for the digest; nothing is instant when no
[[alerts.instant]] is configured.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import os
from email import policy
from pathlib import Path

from collectors.base import Mention, iso
from earful import db as store
from earful import pipeline
from earful.notify.stage import alert_stage
from tests.conftest import NOW, ROOT, make_config

SUBSCRIBER = """
[[alerts.subscribers]]
email = "daily@example.com"
mode = "digest"
"""


def rule(**keys) -> str:
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in keys.items())  # TOML-compatible
    return f'\n[[alerts.instant]]\nbrand = "Larkspur"\n{lines}\n'


def mentions() -> list[Mention]:
    hour = dt.timedelta(hours=1)
    return [
        Mention(source="trustpilot", native_id="r1", kind="review", target="t",
                created_at=iso(NOW - 2 * hour), author="ann", title="Charged twice",
                body="Charged twice and no reply from Larkspur support.", rating=1.0,
                url="https://www.trustpilot.com/reviews/r1"),
        Mention(source="reddit", native_id="p1", kind="post", target="r/x",
                created_at=iso(NOW - 3 * hour), author="bo",
                title="Thinking about a lawsuit against Larkspur", body="They kept my deposit."),
        Mention(source="hackernews", native_id="h1", kind="story", target="q",
                created_at=iso(NOW - 4 * hour), author="cy", title="Larkspur's new pricing",
                extra={"points": 900, "num_comments": 412}),
        # Not urgent: a good review, a small post, and a 1-star review from last week.
        Mention(source="trustpilot", native_id="r2", kind="review", target="t",
                created_at=iso(NOW - hour), author="di", body="Larkspur is great", rating=5.0),
        Mention(source="hackernews", native_id="h2", kind="story", target="q",
                created_at=iso(NOW - hour), author="ed", title="Larkspur mentioned",
                extra={"points": 12, "num_comments": 3}),
        Mention(source="trustpilot", native_id="r0", kind="review", target="t",
                created_at=iso(NOW - dt.timedelta(days=6)), author="fi",
                body="Larkspur lost my parcel", rating=1.0),
    ]


def setup(tmp_path: Path, extra: str):
    config = make_config(tmp_path, extra)
    db = store.connect(config.database)
    with db.atomic():
        store.save_mentions(db, "Larkspur", mentions(), run_id=1)
    pipeline.score(db, config, show_progress=False)
    return config, db


def instant_emails(config) -> list[email.message.EmailMessage]:
    found = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in sorted(Path(config.alerts.outbox).glob("*.eml"))]
    return [m for m in found if m["X-Earful-Alert"].startswith("instant:")]


def test_a_low_review_a_severity_term_and_a_post_with_reach_alert_at_once(tmp_path):
    config, db = setup(tmp_path, rule(max_stars=2, min_score=500, max_per_hour=10))
    assert alert_stage(db, config, now=NOW) == (3, [])
    got = {m["X-Earful-Alert"]: m for m in instant_emails(config)}
    assert set(got) == {"instant:trustpilot:r1", "instant:reddit:p1", "instant:hackernews:h1"}
    review = got["instant:trustpilot:r1"]
    assert review["Subject"].startswith("Larkspur: 1★ review on Trustpilot — “Charged twice")
    text = review.get_body(("plain",)).get_content()
    assert "Why now: a 1★ review (alerts at or below 2★)." in text
    assert "original: https://www.trustpilot.com/reviews/r1" in text
    assert "mentions “lawsuit”" in got["instant:reddit:p1"].get_body(("plain",)).get_content()
    assert "reach: 900 points, 412 comments" in got["instant:hackernews:h1"].get_body(
        ("html",)).get_content()
    # Each mention is judged once: the next run sends nothing new...
    assert alert_stage(db, config, now=NOW + dt.timedelta(minutes=10)) == (0, [])
    # ...but a review collected since then is judged on the run after.
    late = Mention(source="appstore", native_id="a1", kind="review", target="t",
                   created_at=iso(NOW), author="gus", body="Larkspur app crashes", rating=2.0)
    with db.atomic():
        store.save_mentions(db, "Larkspur", [late], run_id=2)
    assert alert_stage(db, config, now=NOW + dt.timedelta(minutes=20)) == (1, [])
    assert "instant:appstore:a1" in {m["X-Earful-Alert"] for m in instant_emails(config)}
    db.close()


def test_over_the_hourly_cap_they_wait_for_the_digest(tmp_path):
    config, db = setup(tmp_path, rule(max_stars=2, min_score=500, max_per_hour=1) + SUBSCRIBER)
    alert_stage(db, config, now=NOW)
    assert len(instant_emails(config)) == 1
    held = db.execute("SELECT mention_id FROM instant_hits WHERE alert_id IS NULL "
                      "ORDER BY mention_id").fetchall()
    assert len(held) == 2
    # An hour later the cap has room again, but those two are already judged: they wait.
    alert_stage(db, config, now=NOW + dt.timedelta(hours=1, minutes=1))
    assert len(instant_emails(config)) == 1
    # The next day's digest (for Monday, when they were found) lists the two held back.
    alert_stage(db, config, now=NOW + dt.timedelta(days=1))
    digest = next(email.message_from_bytes(p.read_bytes(), policy=policy.default)
                  for p in Path(config.alerts.outbox).glob("digest-daily-2026-11-23*.eml"))
    text = digest.get_body(("plain",)).get_content()
    assert "Held back from instant alerts (hourly cap), 2:" in text
    sent = instant_emails(config)[0]["X-Earful-Alert"].removeprefix("instant:")
    quotes = {"trustpilot:r1": "Charged twice", "reddit:p1": "lawsuit",
              "hackernews:h1": "new pricing"}
    for mention_id, words in quotes.items():
        section = text.split("Held back from instant alerts")[1]
        assert (words in section) == (mention_id != sent)
    assert "Held back from instant alerts" in digest.get_body(("html",)).get_content()
    db.close()


def test_nothing_is_instant_when_the_feature_is_off(tmp_path):
    config, db = setup(tmp_path, "")
    assert config.alerts.instant == ()
    alert_stage(db, config, now=NOW)
    assert instant_emails(config) == []
    assert db.execute("SELECT count(*) FROM instant_hits").fetchone()[0] == 0
    # Configured but paused is off, too.
    (tmp_path / "paused").mkdir()
    config, db2 = setup(tmp_path / "paused", rule(max_stars=2, enabled=False))
    alert_stage(db2, config, now=NOW)
    assert instant_emails(config) == []
    db.close()
    db2.close()


def test_the_instant_email_fits_a_phone_screen(tmp_path):
    from tests.test_alerts import phone_size, screenshot

    config, db = setup(tmp_path, rule(max_stars=2))
    alert_stage(db, config, now=NOW)
    msg = next(m for m in instant_emails(config) if m["X-Earful-Alert"].endswith("r1"))
    width, height = phone_size(msg, tmp_path)
    assert width <= 390, f"the instant email is {width} px wide at a 390 px phone width"
    if os.environ.get("EARFUL_WRITE_DOCS"):  # the README's picture of an instant alert
        from PIL import Image, ImageOps

        shot = screenshot(msg, ROOT / "docs" / "instant-alert-email.png", height=min(height, 1200))
        with Image.open(shot) as picture:  # without the blank frame below the email
            picture = picture.convert("RGB")
            bottom = ImageOps.invert(picture).getbbox()[3] + 40
            picture.crop((0, 0, picture.size[0], min(picture.size[1], bottom))).save(shot)
    db.close()
