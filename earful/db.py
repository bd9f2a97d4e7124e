"""The SQLite store: schema migrations, connection settings and the save_* writers.

One file holds the whole state (see ``../shared/design/storage.md``). Every write goes
through sqlite-utils inside ``db.atomic()``; each stage commits its rows together with the
position it reached, so a killed run loses at most the batch in flight.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlite_utils

from collectors.base import Mention, iso, parse_iso, repair_mention

BUSY_TIMEOUT_MS = 15_000


class StoreError(Exception):
    """The database cannot be opened or written. The message names the path."""


def now_iso() -> str:
    return iso(dt.datetime.now(dt.UTC))


def connect(path: str | Path, *, migrate_schema: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the database in WAL mode and bring its schema up to date."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the database folder: {exc.strerror}") from None
    if path.exists() and path.is_dir():
        raise StoreError(f"{path}: is a folder, not a database file")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        db = sqlite_utils.Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")  # safe in WAL mode; a crash loses no commit
        # A bigger page cache and rarer checkpoints: a batch touches a dozen indexes, and at a
        # million rows the defaults (2 MB, every 1,000 pages) halved the ingest rate.
        db.execute("PRAGMA cache_size = -65536")
        db.execute("PRAGMA wal_autocheckpoint = 10000")
        db.execute("PRAGMA foreign_keys = ON")
        if migrate_schema:
            migrate(db)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the database: {exc}") from None
    return db


# --- migrations -------------------------------------------------------------------
# Numbered, applied in order, each in its own transaction and recorded in `migrations`.
# Every statement is idempotent as well, so a migration interrupted half-way is safe.

def _m001_core(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS mentions (
            id TEXT PRIMARY KEY,              -- source:native_id
            source TEXT NOT NULL,
            native_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            brand TEXT NOT NULL,
            target TEXT,
            url TEXT,
            author TEXT,
            title TEXT,
            body TEXT,
            rating REAL,
            lang TEXT,
            deleted INTEGER NOT NULL DEFAULT 0,
            parent_id TEXT,
            extra TEXT,
            created_at TEXT NOT NULL,
            collected_at TEXT NOT NULL,
            updated_at TEXT,
            first_seen_run INTEGER
        );
        CREATE INDEX IF NOT EXISTS mentions_collected ON mentions(collected_at, id);
        CREATE INDEX IF NOT EXISTS mentions_brand_created ON mentions(brand, created_at);
        CREATE INDEX IF NOT EXISTS mentions_brand_source_created
            ON mentions(brand, source, created_at);

        CREATE TABLE IF NOT EXISTS scores (
            mention_id TEXT NOT NULL REFERENCES mentions(id),
            model TEXT NOT NULL,
            version TEXT NOT NULL,
            score REAL NOT NULL,
            label TEXT NOT NULL,
            text_score REAL,
            rating_score REAL,
            disagrees INTEGER NOT NULL DEFAULT 0,
            lang TEXT,
            scored_at TEXT NOT NULL,
            PRIMARY KEY (mention_id, model, version)
        );
        CREATE TABLE IF NOT EXISTS models (
            model TEXT NOT NULL,
            version TEXT NOT NULL,
            current INTEGER NOT NULL DEFAULT 0,
            first_used_at TEXT NOT NULL,
            PRIMARY KEY (model, version)
        );
        CREATE TABLE IF NOT EXISTS labels (
            mention_id TEXT PRIMARY KEY REFERENCES mentions(id),
            label TEXT NOT NULL CHECK (label IN ('negative', 'neutral', 'positive')),
            labelled_by TEXT,
            labelled_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS triage (
            mention_id TEXT PRIMARY KEY REFERENCES mentions(id),
            status TEXT NOT NULL DEFAULT 'new'
                CHECK (status IN ('new', 'acknowledged', 'resolved', 'ignored')),
            owner TEXT,
            note TEXT,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS buckets (
            brand TEXT NOT NULL,
            series TEXT NOT NULL,             -- 'all' or a source name
            bucket_at TEXT NOT NULL,
            n INTEGER NOT NULL,
            y INTEGER NOT NULL,
            expected REAL,
            PRIMARY KEY (brand, series, bucket_at)
        );
        CREATE TABLE IF NOT EXISTS detector_states (
            brand TEXT NOT NULL,
            series TEXT NOT NULL,
            state TEXT NOT NULL,              -- JSON, at checkpoint_at
            checkpoint_at TEXT NOT NULL,      -- last bucket folded into state
            last_bucket_at TEXT NOT NULL,     -- last bucket looked at (re-read next run)
            updated_at TEXT NOT NULL,
            PRIMARY KEY (brand, series)
        );
        CREATE TABLE IF NOT EXISTS episodes (
            id TEXT PRIMARY KEY,              -- brand/series/opened_at
            brand TEXT NOT NULL,
            series TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
            opened_at TEXT NOT NULL,
            closed_at TEXT,
            rule TEXT NOT NULL,
            params TEXT NOT NULL,
            count INTEGER,
            expected REAL,
            share REAL,
            baseline_share REAL,
            statistic REAL,
            threshold REAL,
            peak_statistic REAL,
            peak_count INTEGER,
            escalations INTEGER NOT NULL DEFAULT 0,
            summary TEXT,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS episodes_brand_opened ON episodes(brand, opened_at);
        CREATE TABLE IF NOT EXISTS alerts (
            id TEXT PRIMARY KEY,              -- episode id + event, or digest/health key
            kind TEXT NOT NULL,               -- open, escalate, close, digest, health
            episode_id TEXT REFERENCES episodes(id),
            brand TEXT,
            event_at TEXT,
            recipients TEXT NOT NULL,         -- JSON list
            subject TEXT,
            message_id TEXT NOT NULL,
            thread_id TEXT,                   -- Message-ID this one replies to
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            delivered_to TEXT,                -- smtp host or .eml path
            last_error TEXT
        );
        CREATE INDEX IF NOT EXISTS alerts_status ON alerts(status);
        CREATE TABLE IF NOT EXISTS runs (
            id INTEGER PRIMARY KEY,
            command TEXT NOT NULL,
            pid INTEGER,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,             -- running, ok, partial, failed
            new_mentions INTEGER NOT NULL DEFAULT 0,
            scored INTEGER NOT NULL DEFAULT 0,
            episodes_opened INTEGER NOT NULL DEFAULT 0,
            alerts_sent INTEGER NOT NULL DEFAULT 0,
            message TEXT
        );
        CREATE TABLE IF NOT EXISTS source_runs (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            brand TEXT NOT NULL,
            source TEXT NOT NULL,
            target TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_s REAL,
            status TEXT NOT NULL,             -- ok, error, rate_limited
            seen INTEGER NOT NULL DEFAULT 0,
            new_rows INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            http_errors TEXT,                 -- JSON {code: count}
            message TEXT
        );
        CREATE INDEX IF NOT EXISTS source_runs_target
            ON source_runs(brand, source, target, started_at);
        CREATE TABLE IF NOT EXISTS cursors (
            brand TEXT NOT NULL,
            source TEXT NOT NULL,
            target TEXT NOT NULL,
            cursor TEXT NOT NULL,             -- JSON the collector keeps (newest seen, ETag...)
            updated_at TEXT NOT NULL,
            PRIMARY KEY (brand, source, target)
        );
        CREATE TABLE IF NOT EXISTS stage_positions (
            stage TEXT NOT NULL,              -- e.g. score:<model>:<version>, publish
            position_at TEXT NOT NULL,        -- collected_at of the last row done
            position_id TEXT NOT NULL,        -- its id: the tie-breaker
            updated_at TEXT NOT NULL,
            PRIMARY KEY (stage)
        );
        """
    )


def _m002_fts(db: sqlite_utils.Database) -> None:
    table = db.table("mentions")
    if not table.detect_fts():
        table.enable_fts(["title", "body"], fts_version="FTS5", create_triggers=True,
                         tokenize="porter")
    # sqlite-utils' update trigger re-indexes on *any* update; ours only when text changes,
    # so marking a row deleted or bumping updated_at costs no FTS work.
    db.executescript(
        """
        DROP TRIGGER IF EXISTS mentions_au;
        CREATE TRIGGER mentions_au AFTER UPDATE OF title, body ON mentions BEGIN
          INSERT INTO mentions_fts (mentions_fts, rowid, title, body)
            VALUES('delete', old.rowid, old.title, old.body);
          INSERT INTO mentions_fts (rowid, title, body) VALUES (new.rowid, new.title, new.body);
        END;
        """
    )


def _m003_views(db: sqlite_utils.Database) -> None:
    # The sentiment that counts: a person's label wins over the current model's.
    db.executescript(
        """
        DROP VIEW IF EXISTS mention_sentiments;
        CREATE VIEW mention_sentiments AS
        SELECT m.id AS mention_id, m.brand, m.source, m.created_at,
               s.score, s.label AS model_label, l.label AS human_label,
               COALESCE(l.label, s.label) AS label, s.model, s.version
        FROM mentions m
        LEFT JOIN models cur ON cur.current = 1
        LEFT JOIN scores s ON s.mention_id = m.id AND s.model = cur.model
             AND s.version = cur.version
        LEFT JOIN labels l ON l.mention_id = m.id;
        """
    )


def _m004_daily(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS daily_counts (
            brand TEXT NOT NULL,
            source TEXT NOT NULL,
            day TEXT NOT NULL,
            mentions INTEGER NOT NULL,
            negatives INTEGER NOT NULL,
            negative_share REAL,
            avg_rating REAL,
            PRIMARY KEY (brand, source, day)
        );
        """
    )


def _m005_bulk_fts(db: sqlite_utils.Database) -> None:
    # New rows are indexed in bulk by save_mentions (one INSERT ... SELECT per batch),
    # which the ingest benchmark measured far faster than a trigger firing per row.
    db.execute("DROP TRIGGER IF EXISTS mentions_ai")
    # A short hash of the mutable fields lets re-collection compare without reading bodies.
    if "fingerprint" not in {c.name for c in db.table("mentions").columns}:
        db.execute("ALTER TABLE mentions ADD COLUMN fingerprint TEXT")


def _m006_alert_claims(db: sqlite_utils.Database) -> None:
    # Who claimed an alert for sending and when: a lease, so two overlapping alert stages
    # never both send, while a claim left by a killed run is taken over.
    columns = {c.name for c in db.table("alerts").columns}
    for name in ("claimed_by", "claimed_at"):
        if name not in columns:
            db.execute(f"ALTER TABLE alerts ADD COLUMN {name} TEXT")


def _m007_datasette(db: sqlite_utils.Database) -> None:
    # What Datasette needs to stay fast on a million mentions (benchmarks/datasette/):
    # newest-first pages and the source / rating facets read an index, not the table.
    # mentions_view adds the sentiment that counts and the triage status for browsing.
    # The triggers turn a mistyped mention id in the triage forms into a clear error
    # (Datasette's write connection does not enforce foreign keys).
    db.executescript(
        """
        CREATE INDEX IF NOT EXISTS mentions_created ON mentions(created_at);
        CREATE INDEX IF NOT EXISTS mentions_source ON mentions(source);
        CREATE INDEX IF NOT EXISTS mentions_rating ON mentions(rating);
        CREATE INDEX IF NOT EXISTS source_runs_status
            ON source_runs(brand, source, target, status, started_at);
        DROP VIEW IF EXISTS mentions_view;
        CREATE VIEW mentions_view AS
        SELECT m.rowid AS rowid, m.id, m.created_at, m.brand, m.source, m.kind, m.rating,
               COALESCE(l.label, s.label) AS sentiment, s.score,
               COALESCE(t.status, 'new') AS status, t.owner, t.note,
               m.author, m.title, m.body, m.url, m.deleted
        FROM mentions m
        LEFT JOIN models cur ON cur.current = 1
        LEFT JOIN scores s ON s.mention_id = m.id AND s.model = cur.model
             AND s.version = cur.version
        LEFT JOIN labels l ON l.mention_id = m.id
        LEFT JOIN triage t ON t.mention_id = m.id;
        CREATE TRIGGER IF NOT EXISTS triage_needs_mention BEFORE INSERT ON triage
        WHEN NOT EXISTS (SELECT 1 FROM mentions WHERE id = NEW.mention_id)
        BEGIN SELECT RAISE(ABORT, 'no mention with that id'); END;
        CREATE TRIGGER IF NOT EXISTS labels_need_mention BEFORE INSERT ON labels
        WHEN NOT EXISTS (SELECT 1 FROM mentions WHERE id = NEW.mention_id)
        BEGIN SELECT RAISE(ABORT, 'no mention with that id'); END;
        """
    )
    # Who last changed a triage row from the browser (the signed-in team member).
    if "updated_by" not in {c.name for c in db.table("triage").columns}:
        db.execute("ALTER TABLE triage ADD COLUMN updated_by TEXT")


# Sentiment that counts for one mention (a person's label wins over the current model's).
_SENTIMENT_OF = """COALESCE(
    (SELECT l.label FROM labels l WHERE l.mention_id = {id}),
    (SELECT s.label FROM models cur JOIN scores s ON s.mention_id = {id}
       AND s.model = cur.model AND s.version = cur.version WHERE cur.current = 1 LIMIT 1))"""


def _m008_mention_facts(db: sqlite_utils.Database) -> None:
    # Datasette's facets are a GROUP BY over every matching row, one after another; on a
    # million mentions the sentiment and status facets of mentions_view joined scores,
    # models, labels and triage per row (~3 s a page, benchmarks/datasette/). mention_facts
    # holds the facet columns of each mention (keyed by mentions.rowid, like mentions_fts),
    # kept exact by triggers, with an index per facet so each count reads one narrow index.
    sentiment_new = _SENTIMENT_OF.format(id="NEW.mention_id")
    sentiment_old = _SENTIMENT_OF.format(id="OLD.mention_id")
    sentiment_row = _SENTIMENT_OF.format(id="m.id")
    facts_of = "(SELECT rowid FROM mentions WHERE id = {id})"
    db.executescript(
        f"""
        CREATE TABLE IF NOT EXISTS mention_facts (
            mention_rowid INTEGER PRIMARY KEY,   -- mentions.rowid
            created_at TEXT NOT NULL,
            brand TEXT NOT NULL,
            source TEXT NOT NULL,
            rating REAL,
            sentiment TEXT,
            status TEXT NOT NULL DEFAULT 'new'
        );
        INSERT OR REPLACE INTO mention_facts
            (mention_rowid, created_at, brand, source, rating, sentiment, status)
        SELECT m.rowid, m.created_at, m.brand, m.source, m.rating, {sentiment_row},
               COALESCE((SELECT t.status FROM triage t WHERE t.mention_id = m.id), 'new')
        FROM mentions m;
        -- created_at covers every facet column: a month's facets read one index range.
        CREATE INDEX IF NOT EXISTS mention_facts_created
            ON mention_facts(created_at, brand, source, sentiment, status, rating);
        -- (column, created_at): a filtered page walks newest-first without a sort.
        CREATE INDEX IF NOT EXISTS mention_facts_brand ON mention_facts(brand, created_at);
        CREATE INDEX IF NOT EXISTS mention_facts_source ON mention_facts(source, created_at);
        CREATE INDEX IF NOT EXISTS mention_facts_sentiment
            ON mention_facts(sentiment, created_at);
        CREATE INDEX IF NOT EXISTS mention_facts_status
            ON mention_facts(status, sentiment, created_at);

        -- The mentions table filtered by source, newest first, without sorting the matches.
        DROP INDEX IF EXISTS mentions_source;
        CREATE INDEX IF NOT EXISTS mentions_source_created ON mentions(source, created_at);
        -- New mentions: no score, label or triage can exist yet (they reference the mention).
        CREATE TRIGGER IF NOT EXISTS mention_facts_mention_ai AFTER INSERT ON mentions BEGIN
          INSERT OR REPLACE INTO mention_facts
            (mention_rowid, created_at, brand, source, rating, sentiment, status)
          VALUES (NEW.rowid, NEW.created_at, NEW.brand, NEW.source, NEW.rating, NULL, 'new');
        END;
        CREATE TRIGGER IF NOT EXISTS mention_facts_mention_au
        AFTER UPDATE OF created_at, brand, source, rating ON mentions BEGIN
          UPDATE mention_facts SET created_at = NEW.created_at, brand = NEW.brand,
            source = NEW.source, rating = NEW.rating WHERE mention_rowid = NEW.rowid;
        END;
        CREATE TRIGGER IF NOT EXISTS mention_facts_mention_ad AFTER DELETE ON mentions BEGIN
          DELETE FROM mention_facts WHERE mention_rowid = OLD.rowid;
        END;
        """
    )
    # Scores, labels and triage: recompute the one mention's value on every change.
    for table, column, value_new, value_old in (
        ("scores", "sentiment", sentiment_new, sentiment_old),
        ("labels", "sentiment", sentiment_new, sentiment_old),
        ("triage", "status", "COALESCE(NEW.status, 'new')", "'new'"),
    ):
        db.executescript(
            f"""
            CREATE TRIGGER IF NOT EXISTS mention_facts_{table}_ai AFTER INSERT ON {table} BEGIN
              UPDATE mention_facts SET {column} = {value_new}
              WHERE mention_rowid = {facts_of.format(id="NEW.mention_id")};
            END;
            CREATE TRIGGER IF NOT EXISTS mention_facts_{table}_au AFTER UPDATE ON {table} BEGIN
              UPDATE mention_facts SET {column} = {value_old}
              WHERE mention_rowid = {facts_of.format(id="OLD.mention_id")}
                AND OLD.mention_id IS NOT NEW.mention_id;
              UPDATE mention_facts SET {column} = {value_new}
              WHERE mention_rowid = {facts_of.format(id="NEW.mention_id")};
            END;
            CREATE TRIGGER IF NOT EXISTS mention_facts_{table}_ad AFTER DELETE ON {table} BEGIN
              UPDATE mention_facts SET {column} = {value_old}
              WHERE mention_rowid = {facts_of.format(id="OLD.mention_id")};
            END;
            """
        )
    # Everything else a row shows comes from a scalar subquery per column: SQLite evaluates
    # it only for the rows a page displays, never for the million rows a facet counts
    # (a LEFT JOIN would be walked for every counted row: aggregates skip join elimination).
    m_id = "(SELECT m.id FROM mentions m WHERE m.rowid = f.mention_rowid)"

    def text(column: str) -> str:
        return f"(SELECT m.{column} FROM mentions m WHERE m.rowid = f.mention_rowid) AS {column}"

    # rowid is "+ 0" on purpose: a search (rowid IN the matches) then walks the created_at
    # index newest first and stops at a page, instead of sorting every match with its text
    # (a common word on a million mentions passed the 3 s limit that way).
    # A change of current model (a new version) changes every mention's sentiment: rare,
    # and the new version rescores everything anyway. The score stage's UPDATE of models
    # on every run changes nothing, so the WHEN keeps it free.
    db.executescript(
        f"""
        CREATE TRIGGER IF NOT EXISTS mention_facts_models_ai AFTER INSERT ON models
        WHEN NEW.current = 1 BEGIN
          UPDATE mention_facts SET sentiment = (SELECT {sentiment_row} FROM mentions m
                                                WHERE m.rowid = mention_facts.mention_rowid);
        END;
        CREATE TRIGGER IF NOT EXISTS mention_facts_models_au AFTER UPDATE ON models
        WHEN OLD.current IS NOT NEW.current OR (NEW.current = 1 AND (OLD.model IS NOT NEW.model
             OR OLD.version IS NOT NEW.version)) BEGIN
          UPDATE mention_facts SET sentiment = (SELECT {sentiment_row} FROM mentions m
                                                WHERE m.rowid = mention_facts.mention_rowid);
        END;
        CREATE TRIGGER IF NOT EXISTS mention_facts_models_ad AFTER DELETE ON models
        WHEN OLD.current = 1 BEGIN
          UPDATE mention_facts SET sentiment = (SELECT {sentiment_row} FROM mentions m
                                                WHERE m.rowid = mention_facts.mention_rowid);
        END;

        DROP VIEW IF EXISTS mentions_view;
        CREATE VIEW mentions_view AS
        SELECT f.mention_rowid + 0 AS rowid, {text("id")}, f.created_at, f.brand, f.source,
               {text("kind")}, f.rating, f.sentiment,
               (SELECT s.score FROM models cur JOIN scores s ON s.mention_id = {m_id}
                  AND s.model = cur.model AND s.version = cur.version
                WHERE cur.current = 1 LIMIT 1) AS score,
               f.status,
               (SELECT t.owner FROM triage t WHERE t.mention_id = {m_id}) AS owner,
               (SELECT t.note FROM triage t WHERE t.mention_id = {m_id}) AS note,
               {text("author")}, {text("title")}, {text("body")}, {text("url")},
               {text("deleted")}
        FROM mention_facts f;
        -- The default browse page: facets over a month of mentions stay fast at any size.
        DROP VIEW IF EXISTS recent_mentions;
        CREATE VIEW recent_mentions AS
        SELECT * FROM mentions_view
        WHERE created_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-30 days');
        """
    )


def _m009_bulk_facts(db: sqlite_utils.Database) -> None:
    # save_mentions fills mention_facts in bulk with the FTS index (one INSERT ... SELECT per
    # batch): the per-row trigger made ingest 2.3x slower. And corrections are found by
    # time, cheaply, when publish looks for days to recount.
    # (Later the score stage took this over, once per row with its sentiment: save_facts.)
    db.executescript(
        """
        DROP TRIGGER IF EXISTS mention_facts_mention_ai;
        CREATE INDEX IF NOT EXISTS labels_labelled_at ON labels(labelled_at);
        """
    )


def _m010_fewer_indexes(db: sqlite_utils.Database) -> None:
    # Browsing by rating or source reads mention_facts (migration 8) now; detection uses the
    # (brand, source, created_at) index. Each index dropped is one less B-tree per insert.
    db.executescript(
        """
        DROP INDEX IF EXISTS mentions_rating;
        DROP INDEX IF EXISTS mentions_source_created;
        """
    )


def _m011_complaint_terms(db: sqlite_utils.Database) -> None:
    # What people complain about, computed in Python by `earful publish`
    # (earful/complaints.py): splitting words in SQL took ~0.4 s a page at a million mentions.
    # complaint_periods holds one row per brand and period (window, sizes, when computed and
    # a cheap signature of its inputs, so a run with nothing new recomputes nothing).
    # negatives_7d is every negative of the last 7 days with facets, for the canned page's
    # "all of them" link (that page shows the newest 200). And an index for the stars facet.
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS complaint_terms (
            brand TEXT NOT NULL,
            period TEXT NOT NULL,             -- '7d': the 7 days before computed_at
            rank INTEGER NOT NULL,            -- 1 = most distinctive
            term TEXT NOT NULL,
            window_count INTEGER NOT NULL,    -- window negatives containing it
            baseline_count INTEGER NOT NULL,  -- baseline mentions (sample) containing it
            z REAL NOT NULL,
            example_id TEXT,
            example TEXT,
            PRIMARY KEY (brand, period, rank)
        );
        CREATE TABLE IF NOT EXISTS complaint_periods (
            brand TEXT NOT NULL,
            period TEXT NOT NULL,
            window_start TEXT NOT NULL,
            window_end TEXT NOT NULL,
            negatives INTEGER NOT NULL,       -- negatives in the window
            window_read INTEGER NOT NULL,     -- of which read (the newest, capped)
            baseline_mentions INTEGER NOT NULL,
            baseline_read INTEGER NOT NULL,   -- an even sample of them
            signature TEXT NOT NULL,
            computed_at TEXT NOT NULL,
            PRIMARY KEY (brand, period)
        );
        -- The one facet of all history without its own index took 0.3 s (28 ms with it).
        CREATE INDEX IF NOT EXISTS mention_facts_rating ON mention_facts(rating, created_at);
        DROP VIEW IF EXISTS negatives_7d;
        CREATE VIEW negatives_7d AS
        SELECT * FROM mentions_view
        WHERE sentiment = 'negative'
          AND created_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days');
        """
    )


def _m012_source_runs_by_run(db: sqlite_utils.Database) -> None:
    # status.targets() reads the latest run's targets on every cron run.
    db.execute("CREATE INDEX IF NOT EXISTS source_runs_run ON source_runs(run_id)")


def _m013_sentiments_from_facts(db: sqlite_utils.Database) -> None:
    # Detection, daily counts, alert evidence and digests count a brand's mentions by time
    # through mention_sentiments. Read from mention_facts (one narrow row per scored mention,
    # the sentiment that counts already in it, an index on (brand, created_at)) instead of
    # joining mentions, scores, models and labels per row, those counts get cheaper, and the
    # two mentions indexes only they used go: each was one more B-tree every insert paid for
    # (benchmarks/README.md, Ingest). Other columns are subqueries, computed only when asked.
    mention_id = "(SELECT m.id FROM mentions m WHERE m.rowid = f.mention_rowid)"
    current_score = ("(SELECT s.{column} FROM models cur JOIN scores s ON s.mention_id = "
                     f"{mention_id} AND s.model = cur.model AND s.version = cur.version "
                     "WHERE cur.current = 1 LIMIT 1)")
    db.executescript(
        f"""
        DROP VIEW IF EXISTS mention_sentiments;
        CREATE VIEW mention_sentiments AS
        SELECT {mention_id} AS mention_id, f.mention_rowid, f.brand, f.source, f.created_at,
               {current_score.format(column="score")} AS score,
               {current_score.format(column="label")} AS model_label,
               (SELECT l.label FROM labels l WHERE l.mention_id = {mention_id}) AS human_label,
               f.sentiment AS label,
               (SELECT cur.model FROM models cur WHERE cur.current = 1 LIMIT 1) AS model,
               (SELECT cur.version FROM models cur WHERE cur.current = 1 LIMIT 1) AS version
        FROM mention_facts f;
        DROP INDEX IF EXISTS mentions_brand_created;
        DROP INDEX IF EXISTS mentions_brand_source_created;
        """
    )


# One brand-hour's share of mention_facts: how many, how many negative, and sums of their
# rowids, so a new, removed or re-labelled mention changes the row even when counts balance.
_FACT_HOUR = """INSERT INTO fact_hours (brand, hour, mentions, negatives, rowids, negative_rowids)
  VALUES ({r}.brand, substr({r}.created_at, 1, 13), {sign}, {sign} * ({r}.sentiment IS 'negative'),
          {sign} * {r}.mention_rowid,
          {sign} * (CASE WHEN {r}.sentiment IS 'negative' THEN {r}.mention_rowid ELSE 0 END))
  ON CONFLICT (brand, hour) DO UPDATE SET mentions = mentions + excluded.mentions,
    negatives = negatives + excluded.negatives, rowids = rowids + excluded.rowids,
    negative_rowids = negative_rowids + excluded.negative_rowids;"""


# One day's count of mention_facts per facet combination ('' for a missing sentiment: a key
# column cannot be NULL), for Datasette's facets (earful/datasette_plugin.py).
_FACT_DAY = """INSERT INTO fact_days (day, brand, source, sentiment, status, mentions)
  VALUES (substr({r}.created_at, 1, 10), {r}.brand, {r}.source, coalesce({r}.sentiment, ''),
          {r}.status, {sign})
  ON CONFLICT (day, brand, source, sentiment, status)
  DO UPDATE SET mentions = mentions + excluded.mentions;
INSERT INTO fact_totals (brand, source, sentiment, status, rating, mentions)
  VALUES ({r}.brand, {r}.source, coalesce({r}.sentiment, ''), {r}.status,
          coalesce({r}.rating, -1), {sign})
  ON CONFLICT (brand, source, sentiment, status, rating)
  DO UPDATE SET mentions = mentions + excluded.mentions;"""


def _m017_fact_counts(db: sqlite_utils.Database) -> None:
    # The publish stage's complaint-terms check counted every mention_facts row of the last
    # 35 days on every run (399 ms at 3M mentions in 90 days, 9 ms at 10k). fact_hours keeps
    # those counts per brand and hour, exact through triggers, so the check sums ~840 small
    # rows and counts at most the three partial hours at the window's edges: the same cost
    # at any history (benchmarks/README.md, Cron).
    db.executescript(
        f"""
        CREATE TABLE IF NOT EXISTS fact_hours (
            brand TEXT NOT NULL,
            hour TEXT NOT NULL,                -- substr(created_at, 1, 13): '2026-12-03T17'
            mentions INTEGER NOT NULL,
            negatives INTEGER NOT NULL,
            rowids INTEGER NOT NULL,           -- sum of mention_rowid
            negative_rowids INTEGER NOT NULL,  -- sum of mention_rowid of the negatives
            PRIMARY KEY (brand, hour)
        ) WITHOUT ROWID;
        DELETE FROM fact_hours;
        INSERT INTO fact_hours (brand, hour, mentions, negatives, rowids, negative_rowids)
        SELECT brand, substr(created_at, 1, 13), count(*), sum(sentiment IS 'negative'),
               sum(mention_rowid),
               sum(CASE WHEN sentiment IS 'negative' THEN mention_rowid ELSE 0 END)
        FROM mention_facts GROUP BY 1, 2;
        CREATE TRIGGER IF NOT EXISTS fact_hours_ai AFTER INSERT ON mention_facts BEGIN
          {_FACT_HOUR.format(r="NEW", sign=1)}
          {_FACT_DAY.format(r="NEW", sign=1)}
        END;
        CREATE TRIGGER IF NOT EXISTS fact_hours_ad AFTER DELETE ON mention_facts BEGIN
          {_FACT_HOUR.format(r="OLD", sign=-1)}
          {_FACT_DAY.format(r="OLD", sign=-1)}
        END;
        -- A model change rewrites every row's sentiment: only real changes touch the counts.
        CREATE TRIGGER IF NOT EXISTS fact_hours_au
        AFTER UPDATE OF created_at, brand, sentiment ON mention_facts
        WHEN OLD.created_at IS NOT NEW.created_at OR OLD.brand IS NOT NEW.brand
          OR OLD.sentiment IS NOT NEW.sentiment BEGIN
          {_FACT_HOUR.format(r="OLD", sign=-1)}
          {_FACT_HOUR.format(r="NEW", sign=1)}
        END;
        CREATE TRIGGER IF NOT EXISTS fact_days_au
        AFTER UPDATE OF created_at, brand, source, sentiment, status, rating ON mention_facts
        WHEN substr(OLD.created_at, 1, 10) IS NOT substr(NEW.created_at, 1, 10)
          OR OLD.brand IS NOT NEW.brand OR OLD.source IS NOT NEW.source
          OR OLD.sentiment IS NOT NEW.sentiment OR OLD.status IS NOT NEW.status
          OR OLD.rating IS NOT NEW.rating BEGIN
          {_FACT_DAY.format(r="OLD", sign=-1)}
          {_FACT_DAY.format(r="NEW", sign=1)}
        END;
        -- Datasette's facets of mentions_view, recent_mentions and negatives_7d: summed per
        -- day instead of grouping a million rows (earful/datasette_plugin.py, PrecountedFacet).
        CREATE TABLE IF NOT EXISTS fact_days (
            day TEXT NOT NULL,                 -- substr(created_at, 1, 10)
            brand TEXT NOT NULL,
            source TEXT NOT NULL,
            sentiment TEXT NOT NULL,           -- '' where none
            status TEXT NOT NULL,
            mentions INTEGER NOT NULL,
            PRIMARY KEY (day, brand, source, sentiment, status)
        ) WITHOUT ROWID;
        -- The mentions table filtered by source (a one-click facet) scanned all of it once
        -- migration 10 dropped this index: 330 ms at a million, and its source facet timed out.
        CREATE INDEX IF NOT EXISTS mentions_source_created ON mentions(source, created_at);
        DELETE FROM fact_days;
        INSERT INTO fact_days (day, brand, source, sentiment, status, mentions)
        SELECT substr(created_at, 1, 10), brand, source, coalesce(sentiment, ''), status,
               count(*)
        FROM mention_facts GROUP BY 1, 2, 3, 4, 5;
        -- The same over all history: a few hundred rows, for mentions_view's facets (summing
        -- a year of days still read ~30,000 rows).
        CREATE TABLE IF NOT EXISTS fact_totals (
            brand TEXT NOT NULL,
            source TEXT NOT NULL,
            sentiment TEXT NOT NULL,           -- '' where none
            status TEXT NOT NULL,
            rating REAL NOT NULL,              -- -1 where none (stars are 0-5)
            mentions INTEGER NOT NULL,
            PRIMARY KEY (brand, source, sentiment, status, rating)
        ) WITHOUT ROWID;
        DELETE FROM fact_totals;
        INSERT INTO fact_totals (brand, source, sentiment, status, rating, mentions)
        SELECT brand, source, coalesce(sentiment, ''), status, coalesce(rating, -1), count(*)
        FROM mention_facts GROUP BY 1, 2, 3, 4, 5;
        """
    )


def _m019_outbox_channels(db: sqlite_utils.Database) -> None:
    # One delivery row per alert and channel (email, or a [channels.NAME] webhook), each
    # with its idempotency key, so a channel that is down retries alone; and every mention
    # judged for an instant alert, kept for the digest when over the hourly cap.
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS alert_deliveries (
            alert_id TEXT NOT NULL REFERENCES alerts(id),
            channel TEXT NOT NULL,            -- email, or a [channels.NAME]
            idempotency_key TEXT NOT NULL,    -- Message-ID for email; sent with each webhook
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
            attempts INTEGER NOT NULL DEFAULT 0,
            sent_at TEXT,
            delivered_to TEXT,                -- smtp host, .eml path or channel:NAME (no URL)
            last_error TEXT,
            PRIMARY KEY (alert_id, channel)
        );
        INSERT OR IGNORE INTO alert_deliveries
            (alert_id, channel, idempotency_key, status, sent_at, delivered_to)
        SELECT id, 'email', message_id, CASE WHEN status = 'sent' THEN 'sent' ELSE 'pending' END,
               sent_at, delivered_to FROM alerts;
        CREATE TABLE IF NOT EXISTS instant_hits (
            mention_id TEXT PRIMARY KEY REFERENCES mentions(id),
            brand TEXT NOT NULL,
            reasons TEXT NOT NULL,            -- JSON list of reasons in words
            detected_at TEXT NOT NULL,
            alert_id TEXT                     -- NULL: over the hourly cap, in the digest
        );
        CREATE INDEX IF NOT EXISTS instant_hits_brand ON instant_hits(brand, detected_at);
        """
    )


def _m018_episode_windows(db: sqlite_utils.Database) -> None:
    # Datasette links each episode to its evidence: the window its latest email counted
    # (alerts.evidence_window: from the first of the up to 6 busy hours just before it
    # opened, to the end of the hour of that email's event, or of the close). An episode
    # no email went out for yet (a source's, inside a brand-wide one) runs to the current
    # hour. Kept beside alerts.evidence_window: a change there changes this view too.
    db.executescript(
        """
        CREATE INDEX IF NOT EXISTS alerts_episode ON alerts(episode_id, event_at);
        -- The home page's latest episode, across brands.
        CREATE INDEX IF NOT EXISTS episodes_opened ON episodes(opened_at);
        -- The configured brands, written by publish: which are competitors (charted
        -- beside ours, never alerted on). Datasette cannot read the config file.
        CREATE TABLE IF NOT EXISTS brands (
            name TEXT PRIMARY KEY,
            competitor INTEGER NOT NULL DEFAULT 0
        );
        DROP VIEW IF EXISTS episode_windows;
        CREATE VIEW episode_windows AS
        -- The CTE's name is what SQLite's authorizer reports for its reads of alerts
        -- (earful/datasette_security.py lets exactly those through for anonymous visitors).
        WITH episode_latest_alert AS (
          SELECT e.*, 3600 * coalesce(json_extract(e.params, '$.bucket_hours'), 1) AS step,
                 strftime('%Y-%m-%dT%H:%M:%SZ', e.opened_at, '-' ||
                   (6 * coalesce(json_extract(e.params, '$.bucket_hours'), 1)) || ' hours')
                   AS reach,
                 (SELECT a.id FROM alerts a WHERE a.episode_id = e.id
                    AND a.kind IN ('open', 'escalate', 'close')
                  ORDER BY a.event_at DESC, a.created_at DESC LIMIT 1) AS alert_id
          FROM episodes e
        )
        SELECT e.id AS episode_id, e.brand, e.series, e.status, e.opened_at, e.closed_at,
               e.alert_id,
               coalesce((SELECT min(b.bucket_at) FROM buckets b WHERE b.brand = e.brand
                           AND b.series = e.series AND b.bucket_at < e.opened_at
                           AND b.bucket_at >= e.reach
                           AND b.bucket_at > coalesce((
                             SELECT max(c.bucket_at) FROM buckets c WHERE c.brand = e.brand
                               AND c.series = e.series AND c.bucket_at < e.opened_at
                               AND c.bucket_at >= e.reach
                               AND c.y <= coalesce(c.expected, 0) + 0.5), '')),
                        e.opened_at) AS since,
               strftime('%Y-%m-%dT%H:%M:%SZ', CASE
                 WHEN a.kind = 'close' AND e.closed_at IS NOT NULL THEN e.closed_at
                 WHEN a.kind IS NOT NULL THEN max(a.event_at, e.opened_at)
                 WHEN e.closed_at IS NOT NULL THEN e.closed_at
                 ELSE strftime('%Y-%m-%dT%H:00:00Z', 'now') END,
                 '+' || e.step || ' seconds') AS until
        FROM episode_latest_alert e LEFT JOIN alerts a ON a.id = e.alert_id;
        """
    )


MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "core tables", _m001_core),
    (2, "full-text search on mentions", _m002_fts),
    (3, "mention_sentiments view", _m003_views),
    (4, "daily_counts for charts", _m004_daily),
    (5, "index new mentions into FTS in bulk", _m005_bulk_fts),
    (6, "alert send claims (lease)", _m006_alert_claims),
    (7, "Datasette: indexes, mentions_view, triage checks", _m007_datasette),
    (8, "mention_facts for fast Datasette facets", _m008_mention_facts),
    (9, "mention_facts filled in bulk; labels by time", _m009_bulk_facts),
    (10, "drop indexes mention_facts made redundant", _m010_fewer_indexes),
    (11, "complaint_terms kept by publish; negatives_7d view", _m011_complaint_terms),
    (12, "source_runs by run", _m012_source_runs_by_run),
    (13, "mention_sentiments reads mention_facts; two mentions indexes go",
     _m013_sentiments_from_facts),
    (17, "fact_hours, fact_days, fact_totals: counts kept by triggers for publish and Datasette",
     _m017_fact_counts),
    (18, "episode_windows and brands, for Datasette",
     _m018_episode_windows),
    (19, "alert deliveries per channel; instant alert hits", _m019_outbox_channels),
]


def migrate(db: sqlite_utils.Database) -> list[int]:
    """Apply the migrations this database has not seen; return their numbers."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS migrations "
        "(id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT id FROM migrations")}
    applied = []
    for number, name, fn in MIGRATIONS:
        if number in done:
            continue
        with db.atomic():
            fn(db)
            db.execute("INSERT OR IGNORE INTO migrations (id, name, applied_at) VALUES (?, ?, ?)",
                       [number, name, now_iso()])
        applied.append(number)
    return applied


# --- mentions ---------------------------------------------------------------------
MUTABLE = ("title", "body", "deleted", "rating", "url", "author")
COLUMNS = ("id", "source", "native_id", "kind", "brand", "target", "url", "author", "title",
           "body", "rating", "lang", "deleted", "parent_id", "extra", "created_at",
           "collected_at", "first_seen_run", "fingerprint")
INSERT_MENTION = (f"INSERT INTO mentions ({', '.join(COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(COLUMNS))})")


def fingerprint(mention: Mention) -> str:
    # An f-string, not repr() of a tuple: this runs for every re-collected item.
    # surrogatepass: never raises, and is plain UTF-8 (the same print) for valid text.
    m = mention
    text = f"{m.title}\x1f{m.body}\x1f{bool(m.deleted)}\x1f{m.rating}\x1f{m.url}\x1f{m.author}"
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def save_mentions(db: sqlite_utils.Database, brand: str, mentions: Iterable[Mention],
                  *, run_id: int | None = None, collected_at: str | None = None,
                  notes: list[str] | None = None) -> tuple[int, int]:
    """Store a batch of mentions for ``brand``; return (new, changed).

    Ids already stored are looked up first (with a fingerprint of their mutable fields),
    so re-collecting the same items inserts nothing and re-indexes nothing: only rows whose
    mutable fields really changed are updated (an edited body, a deletion at the source).
    Each mention is first made storable (``repair_mention``: lone surrogates replaced, a
    rating that is no finite number dropped); what was changed goes to ``notes``, one line
    per field naming the mention. Call inside ``db.atomic()``.
    """
    batch: dict[str, Mention] = {}
    for mention in mentions:
        for note in repair_mention(mention):
            if notes is not None:
                notes.append(f"{mention.id}: {note}")
        batch[mention.id] = mention
    if not batch:
        return 0, 0
    collected_at = _after_positions(db, collected_at or now_iso())
    known: dict[str, str] = {}
    ids = list(batch)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        known.update(db.execute(
            f"SELECT id, fingerprint FROM mentions WHERE id IN ({','.join('?' * len(chunk))})",
            chunk).fetchall())
    new_rows = []
    changed = 0
    for mention_id, mention in batch.items():
        print_ = fingerprint(mention)
        if mention_id not in known:
            m = mention
            # A tuple in COLUMNS order, built directly: the dict of as_row() and a lookup per
            # column cost more than SQLite's insert (benchmarks/README.md, Ingest).
            new_rows.append((
                mention_id, m.source, m.native_id, m.kind, brand, m.target, m.url, m.author,
                m.title, m.body, m.rating, m.lang, int(bool(m.deleted)), m.parent_id,
                json.dumps(m.extra, sort_keys=True) if m.extra else None, m.created_at,
                collected_at, run_id, print_))
        elif known[mention_id] != print_:
            changed += _update_changed(db, mention, print_, collected_at)
    if new_rows:
        # One prepared statement for the batch (sqlite-utils' insert_all spends longer on
        # per-row type conversion than SQLite spends writing), then the new rowid range
        # goes into the full-text index in one statement. Same transaction as the caller's.
        before = db.execute("SELECT coalesce(max(rowid), 0) FROM mentions").fetchone()[0]
        db.conn.executemany(INSERT_MENTION, new_rows)
        db.execute("INSERT INTO mentions_fts (rowid, title, body) SELECT rowid, title, body "
                   "FROM mentions WHERE rowid > ?", [before])
        # Datasette's facet row (mention_facts) is written by the score stage, once, with
        # its sentiment: written here too it cost a third of ingest, then an update of
        # three of its indexes when the score came (benchmarks/ingest/README).
    return len(new_rows), changed


FACTS_OF_RANGE = f"""
    INSERT OR IGNORE INTO mention_facts
        (mention_rowid, created_at, brand, source, rating, sentiment, status)
    SELECT m.rowid, m.created_at, m.brand, m.source, m.rating,
           {_SENTIMENT_OF.format(id="m.id")},
           COALESCE((SELECT t.status FROM triage t WHERE t.mention_id = m.id), 'new')
    FROM mentions m
    WHERE (m.collected_at, m.id) > (?, ?) AND (m.collected_at, m.id) <= (?, ?)
      -- a rescore (new model version) finds every row there: skip them before computing
      AND NOT EXISTS (SELECT 1 FROM mention_facts f WHERE f.mention_rowid = m.rowid)"""


def save_facts(db: sqlite_utils.Database, after: tuple[str, str],
               upto: tuple[str, str]) -> None:
    """Give the mentions in the (collected_at, id) range (after, upto] their facet row.

    The score stage calls this once it has scored them, so the row is written once, with
    the sentiment that counts and any triage already set. Rows that exist are left alone:
    the triggers of migration 8 keep them exact from then on.
    """
    db.execute(FACTS_OF_RANGE, [*after, *upto])


def _after_positions(db: sqlite_utils.Database, collected_at: str) -> str:
    # Stages keep their place as a (collected_at, id) position. A row stamped at or before
    # a saved position would sort behind it and never be scored: a run starting in the same
    # second as the last one's score stage, or a clock set back. Stamp it one second later.
    latest = db.execute("SELECT max(position_at) FROM stage_positions "
                        "WHERE position_id != ''").fetchone()[0]
    if latest and collected_at <= latest:
        return iso(parse_iso(latest) + dt.timedelta(seconds=1))
    return collected_at


def _update_changed(db: sqlite_utils.Database, mention: Mention, print_: str,
                    collected_at: str) -> int:
    old = dict(zip(MUTABLE, db.execute(f"SELECT {', '.join(MUTABLE)} FROM mentions WHERE id = ?",
                                       [mention.id]).fetchone(), strict=True))
    row = _row(mention, "")
    update = {k: row[k] for k in MUTABLE if row[k] != old[k] and not (
        # a later "[deleted]" never wipes the text we already have
        k in ("title", "body", "author") and mention.deleted and old[k])}
    update["fingerprint"] = print_
    if len(update) > 1:
        update["updated_at"] = collected_at
    db.table("mentions").update(mention.id, update)
    return int(len(update) > 1)


def _row(mention: Mention, brand: str) -> dict[str, Any]:
    row = mention.as_row()
    row["brand"] = brand
    row["deleted"] = int(bool(mention.deleted))
    row["extra"] = json.dumps(mention.extra, sort_keys=True) if mention.extra else None
    return row


# --- cursors and stage positions --------------------------------------------------
def get_cursor(db: sqlite_utils.Database, brand: str, source: str, target: str) -> dict:
    row = db.execute("SELECT cursor FROM cursors WHERE brand = ? AND source = ? AND target = ?",
                     [brand, source, target]).fetchone()
    return json.loads(row[0]) if row else {}


def save_cursor(db: sqlite_utils.Database, brand: str, source: str, target: str,
                cursor: dict) -> None:
    db.table("cursors").upsert(
        {"brand": brand, "source": source, "target": target,
         "cursor": json.dumps(cursor, sort_keys=True), "updated_at": now_iso()},
        pk=("brand", "source", "target"),
    )


def get_position(db: sqlite_utils.Database, stage: str) -> tuple[str, str]:
    row = db.execute("SELECT position_at, position_id FROM stage_positions WHERE stage = ?",
                     [stage]).fetchone()
    return (row[0], row[1]) if row else ("", "")


def save_position(db: sqlite_utils.Database, stage: str, position: tuple[str, str]) -> None:
    db.table("stage_positions").upsert(
        {"stage": stage, "position_at": position[0], "position_id": position[1],
         "updated_at": now_iso()}, pk="stage")


def mentions_after(db: sqlite_utils.Database, position: tuple[str, str], limit: int,
                   columns: str = "id, collected_at") -> list[sqlite3.Row]:
    """The next ``limit`` mentions after ``position`` in (collected_at, id) order.

    Many rows share a collected_at, so the id breaks ties; the index
    mentions_collected(collected_at, id) makes this a range scan whatever the table size.
    """
    at, last_id = position
    cursor = db.execute(
        # A row value, not "a > ? OR (a = ? AND b > ?)": SQLite turns only the row value
        # into an index range; the OR form scanned the whole index (10M rows: 2 s a run).
        f"SELECT {columns} FROM mentions WHERE (collected_at, id) > (?, ?) "
        f"ORDER BY collected_at, id LIMIT ?",
        [at, last_id, limit],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --- runs -------------------------------------------------------------------------
def start_run(db: sqlite_utils.Database, command: str, pid: int) -> int:
    with db.atomic():
        return db.table("runs").insert(
            {"command": command, "pid": pid, "started_at": now_iso(), "status": "running"}
        ).last_pk


def finish_run(db: sqlite_utils.Database, run_id: int, status: str, **counts: Any) -> None:
    with db.atomic():
        db.table("runs").update(run_id, {"finished_at": now_iso(), "status": status, **counts})


def record_source_run(db: sqlite_utils.Database, row: dict[str, Any]) -> None:
    row = dict(row)
    if isinstance(row.get("http_errors"), dict):
        row["http_errors"] = json.dumps({str(k): v for k, v in row["http_errors"].items()},
                                        sort_keys=True) if row["http_errors"] else None
    db.table("source_runs").insert(row)
