"""`earful status` and a stopped run tell the truth: a corrupted page is reported, a failed
run says why, a run stopped by a locked database says what it had committed and its row
does not stay "running"."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from collectors.base import Collector, Mention, iso
from earful import db as store
from earful import runner
from earful.db import StoreError
from earful.pipeline import BATCH
from earful.status import render_status
from tests.conftest import make_config
from tests.test_stages import demo_mentions

FEED = '\n[[brands.sources]]\ntype = "feed"\nurl = "https://feeds.example/larkspur"\n'


def test_status_reports_a_page_of_zeros(tmp_path):
    config = make_config(tmp_path)
    db = store.connect(config.database)
    with db.atomic():
        store.save_mentions(db, "Larkspur", demo_mentions(dt.datetime(2026, 11, 23,
                                                                      tzinfo=dt.UTC)), run_id=1)
    assert "Integrity" not in render_status(config)
    page = db.execute("SELECT pageno FROM dbstat WHERE name = 'mentions' AND "
                      "pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 5").fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with open(config.database, "r+b") as f:  # what a bad disk or a torn copy leaves
        f.seek((page - 1) * size)
        f.write(b"\0" * size)
    text = render_status(config)
    assert "!! Integrity check FAILED (PRAGMA quick_check)" in text, text
    assert ".recover" in text


class LockedMidway(Collector):
    """Yields a full batch (committed), then another program takes the database's write
    lock and keeps it while the rest arrives."""

    source = "feed"

    def __init__(self, database: Any, holder: list) -> None:
        super().__init__()
        self.database, self.holder = database, holder

    def collect(self, target: str, cursor: dict[str, Any]) -> Iterator[Mention]:
        at = iso(dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
        for i in range(BATCH + 10):
            if i == BATCH + 1:  # the first batch is committed by now
                conn = sqlite3.connect(self.database, isolation_level=None)
                conn.execute("BEGIN IMMEDIATE")
                self.holder.append(conn)
            yield Mention(source="feed", native_id=f"item-{i}", kind="article", target=target,
                          created_at=at, title="Larkspur", body=f"larkspur item {i}",
                          url=f"https://feeds.example/{i}")


def test_a_database_locked_mid_run_says_what_it_committed_and_ends_its_row(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 500)  # not 15 s: the test would wait it
    monkeypatch.setattr(runner, "BUSY_TIMEOUT_MS", 500)
    config = make_config(tmp_path, FEED)
    holder: list[sqlite3.Connection] = []

    def collectors_for(cfg: Any, brand: Any, source: Any):
        return [(LockedMidway(config.database, holder), "larkspur")]

    try:
        with pytest.raises(StoreError) as info:
            runner.run(config, ["collect"], collectors_for=collectors_for,
                       show_progress=False)
        message = str(info.value)
        assert "changed nothing" not in message
        assert f"this run had stored {BATCH} new mentions, which are kept" in message, message
        # Its end could not be written (the lock is still held): status does not call it
        # running once no run holds the run lock.
        text = render_status(config)
        assert "stopped before recording its end (run 1 failed: database is locked" in text, text
    finally:
        for conn in holder:
            conn.execute("ROLLBACK")
            conn.close()
    conn = sqlite3.connect(config.database)
    assert conn.execute("SELECT count(*) FROM mentions").fetchone() == (BATCH,)
    # The next run records how that one ended, then does its own work.
    runner.run(config, ["publish"], show_progress=False)
    rows = conn.execute("SELECT id, status, message FROM runs ORDER BY id").fetchall()
    assert rows[0][:2] == (1, "failed") and "database is locked" in rows[0][2], rows
    assert rows[1][1] == "ok"
    assert "Last run #2" in render_status(config)


def test_status_says_why_a_run_failed(tmp_path):
    config = make_config(tmp_path, FEED)

    def collectors_for(cfg: Any, brand: Any, source: Any):
        raise RuntimeError("a bug in the feed source set-up")

    with pytest.raises(RuntimeError):
        runner.run(config, ["collect"], collectors_for=collectors_for, show_progress=False)
    text = render_status(config)
    assert "Last run #1 at" in text
    assert ": failed: RuntimeError: a bug in the feed source set-up" in text, text


def test_a_check_that_takes_too_long_is_stopped_and_said_so(tmp_path):
    from earful.status import integrity

    config = make_config(tmp_path)
    db = store.connect(config.database)
    with db.atomic():  # ~100 MB: its check takes far longer than 20 ms
        db.execute("CREATE TABLE filler (x BLOB)")
        db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                   "WHERE i < 100000) INSERT INTO filler SELECT randomblob(1000) FROM n")
    assert integrity(db, budget=0.02) is None  # stopped, not waited for
    assert integrity(db) == []  # and the connection still works
    text = render_status(config)
    assert "Integrity" not in text, text
    db.close()
