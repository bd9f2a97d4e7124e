"""A database for the UI tests: the demo brand with its storm, and a competitor.

The competitor's mentions are the demo's, renamed and thinned (so its volume and its share
differ from ours), storm included: it must still never open an episode or an alert.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from earful import config as cfg
from earful import db as store
from tests.conftest import make_config
from tests.test_stages import demo_mentions

COMPETITOR = "Verbena"
COMPETITOR_CONFIG = f"""
[[brands]]
name = "{COMPETITOR}"
keywords = ["{COMPETITOR.lower()}"]
competitor = true
"""


def build(folder: Path, now: dt.datetime) -> tuple[cfg.Config, store.sqlite_utils.Database]:
    """Collect (as the collectors would store them), score, detect, alert and publish."""
    from earful import pipeline
    from earful.alerts import alert_stage

    config = make_config(folder, COMPETITOR_CONFIG)
    db = store.connect(config.database)
    ours = demo_mentions(now)
    theirs = [dataclasses.replace(
        m, native_id=f"v-{m.native_id}", url=f"{m.url}?brand=verbena",
        title=(m.title or "").replace("Larkspur", COMPETITOR) or None,
        body=(m.body or "").replace("Larkspur", COMPETITOR)) for m in ours[::3]]
    with db.atomic():
        store.save_mentions(db, "Larkspur", ours, run_id=1)
        store.save_mentions(db, COMPETITOR, theirs, run_id=1)
    pipeline.score(db, config, show_progress=False)
    pipeline.detect(db, config, now=now)
    alert_stage(db, config)
    pipeline.publish(db, config, now)
    return config, db
