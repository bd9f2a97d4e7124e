"""The SQLite store on a real file: migrations, WAL, FTS, idempotent saves, cursors."""

import sqlite3

import pytest

from collectors.base import Mention
from earful import db as store


def mention(n, **kw):
    base = dict(source="feed", native_id=f"n{n}", kind="article", target="https://f.example/x",
                created_at=f"2026-11-0{1 + n % 9}T10:00:00Z", title=f"Acme news {n}",
                body=f"body {n} about refunds", url=f"https://news.example/{n}")
    base.update(kw)
    return Mention(**base)


@pytest.fixture
def db(tmp_path):
    database = store.connect(tmp_path / "earful.db")
    yield database
    database.close()


def test_schema_wal_fts_and_migrations_safe_to_rerun(tmp_path, db):
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = set(db.table_names())
    assert {"mentions", "scores", "labels", "triage", "buckets", "detector_states", "episodes",
            "alerts", "runs", "source_runs", "cursors", "migrations", "mentions_fts"} <= tables
    applied = [r[0] for r in db.execute("SELECT id FROM migrations ORDER BY id")]
    assert applied == [n for n, _, _ in store.MIGRATIONS]
    assert store.migrate(db) == []  # nothing left to do
    # Re-running every migration body on a migrated database must be harmless too.
    for _, _, fn in store.MIGRATIONS:
        with db.atomic():
            fn(db)
    indexes = {row[1] for row in db.execute("PRAGMA index_list(mentions)")}
    assert {"mentions_collected", "mentions_created"} <= indexes
    # Counting by brand and time reads mention_facts (migration 13): not paid on every insert.
    assert not indexes & {"mentions_brand_created", "mentions_brand_source_created"}


def test_save_is_insert_only_for_known_ids(db):
    batch = [mention(i) for i in range(5)]
    with db.atomic():
        assert store.save_mentions(db, "Acme", batch, run_id=1) == (5, 0)
    fts_changes_before = db.execute("SELECT total_changes()").fetchone()[0]
    with db.atomic():
        assert store.save_mentions(db, "Acme", batch, run_id=2) == (0, 0)
    # Nothing written at all: no upsert, no FTS re-index.
    assert db.execute("SELECT total_changes()").fetchone()[0] == fts_changes_before
    assert db.execute("SELECT count(*), min(first_seen_run) FROM mentions").fetchone() == (5, 1)
    assert db.execute("SELECT id FROM mentions ORDER BY id").fetchall()[0][0] == "feed:n0"


def test_edits_update_and_deletions_keep_the_text(db):
    with db.atomic():
        store.save_mentions(db, "Acme", [mention(1), mention(2)])
    edited = mention(1, body="edited: charged twice")
    deleted = mention(2, body="[deleted]", author=None, deleted=True)
    with db.atomic():
        assert store.save_mentions(db, "Acme", [edited, deleted]) == (0, 2)
    rows = dict(db.execute("SELECT id, body FROM mentions").fetchall())
    assert rows["feed:n1"] == "edited: charged twice"
    assert rows["feed:n2"] == "body 2 about refunds"  # what we saw is kept...
    assert db.execute("SELECT deleted FROM mentions WHERE id = 'feed:n2'").fetchone()[0] == 1
    # ...and full-text search follows the edit.
    hits = [r[0] for r in db.execute(
        "SELECT m.id FROM mentions_fts JOIN mentions m ON m.rowid = mentions_fts.rowid "
        "WHERE mentions_fts MATCH 'charged'")]
    assert hits == ["feed:n1"]


def test_cursor_position_breaks_ties_on_id(db):
    with db.atomic():
        store.save_mentions(db, "Acme", [mention(i) for i in range(7)],
                            collected_at="2026-11-10T00:00:00Z")
    seen, position = [], ("", "")
    while rows := store.mentions_after(db, position, 3):
        seen += [r["id"] for r in rows]
        position = (rows[-1]["collected_at"], rows[-1]["id"])
    assert seen == sorted(f"feed:n{i}" for i in range(7))  # every row once, none skipped


def test_unreadable_database_path_is_a_store_error(tmp_path):
    folder = tmp_path / "adir.db"
    folder.mkdir()
    with pytest.raises(store.StoreError, match="adir.db: is a folder"):
        store.connect(folder)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(store.StoreError, match="garbage.db: cannot open the database"):
        store.connect(garbage)


def test_concurrent_reader_sees_committed_rows_during_a_write(tmp_path, db):
    with db.atomic():
        store.save_mentions(db, "Acme", [mention(1)])
    reader = sqlite3.connect(tmp_path / "earful.db")
    db.execute("BEGIN")
    store.save_mentions(db, "Acme", [mention(2)])
    # WAL: a reader is not blocked by the open write transaction and sees the last commit.
    assert reader.execute("SELECT count(*) FROM mentions").fetchone()[0] == 1
    db.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM mentions").fetchone()[0] == 2
