"""The stages of a run: collect -> score -> detect -> alert -> publish.

Every stage is incremental and idempotent: it reads where it got to from the database,
works on what is new since, and commits its rows together with its new position. A run
killed at any point is completed by the next one with nothing lost or duplicated.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from analysis import sentiment, spikes
from analysis.matching import Matcher
from collectors.base import Collector, CollectorError, Mention, iso, parse_iso

from . import db as store
from .config import Brand, Config, Source
from .notify import outbox

log = logging.getLogger("earful")

BATCH = 5000  # mentions per collect transaction: a kill loses at most this many, refetched
SCORE_BATCH = 2000
REREAD_BUCKETS = 2  # late mentions: the last buckets are counted again next run
MAX_BACKFILL_DAYS = 90  # a new series starts at most this far back


@dataclass
class StageResult:
    new_mentions: int = 0
    scored: int = 0
    episodes_opened: int = 0
    alerts_sent: int = 0
    failures: list[str] = field(default_factory=list)

    def merge(self, other: StageResult) -> None:
        self.new_mentions += other.new_mentions
        self.scored += other.scored
        self.episodes_opened += other.episodes_opened
        self.alerts_sent += other.alerts_sent
        self.failures.extend(other.failures)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextmanager
def progress(length: int, label: str, enabled: bool) -> Iterator[Any]:
    """A click progress bar on a terminal, nothing otherwise (cron, pipes, tests)."""
    if enabled and length > 0 and sys.stderr.isatty():
        import click

        with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
            yield bar
    else:
        class _Null:
            def update(self, n: int) -> None:
                pass

        yield _Null()


# --- collect ------------------------------------------------------------------------
def collect(db: sqlite_utils.Database, config: Config, run_id: int | None,
            collectors_for: Any, brands: list[str] | None = None) -> StageResult:
    """Collect every enabled source of every brand; a failing source never stops the others.

    ``collectors_for(config, brand, source)`` yields (collector, target) pairs: see
    ``earful.sources``. Mentions are committed in batches; a target's cursor only once the
    target is finished, so an interrupted target is simply collected again (ids dedupe).
    """
    result = StageResult()
    for brand in config.brands:
        if brands and brand.name not in brands:
            continue
        matcher = Matcher(brand.keywords, exclude=brand.exclude,
                          exclude_authors=brand.exclude_authors,
                          exclude_subreddits=brand.exclude_subreddits)
        for source in brand.sources:
            if not source.enabled:
                continue
            try:
                pairs = list(collectors_for(config, brand, source))
            except CollectorError as exc:
                result.failures.append(f"{brand.name} {source.label}: {exc}")
                log.error("%s: %s: %s", brand.name, source.label, exc)
                continue
            for collector, target in pairs:
                result.merge(_collect_target(db, brand, source, collector, target, matcher,
                                             run_id))
    return result


def _collect_target(db: sqlite_utils.Database, brand: Brand, source: Source,
                    collector: Collector, target: str, matcher: Matcher,
                    run_id: int | None) -> StageResult:
    result = StageResult()
    started = time.monotonic()
    started_at = store.now_iso()
    collector.reset_stats()
    cursor = store.get_cursor(db, brand.name, collector.source, target)
    seen = new = 0
    status, message = "ok", None
    batch: list[Mention] = []
    repaired: list[str] = []  # fields save_mentions made storable, per mention
    lost: list[str] = []  # mentions the store refused one by one

    def flush() -> None:
        nonlocal new
        if not batch:
            return
        try:
            with db.atomic():
                added, _ = store.save_mentions(db, brand.name, batch, run_id=run_id,
                                               notes=repaired)
        except Exception as exc:
            if _store_failed(exc):
                raise
            # One mention the store cannot take must not cost its batch: one at a time.
            added = 0
            for mention in batch:
                try:
                    with db.atomic():
                        added += store.save_mentions(db, brand.name, [mention], run_id=run_id)[0]
                except Exception as one:
                    if _store_failed(one):
                        raise
                    lost.append(f"item {mention.native_id!r:.80}: not stored: "
                                f"{type(one).__name__}: {str(one)[:160]}")
        new += added
        batch.clear()

    try:
        for mention in collector.collect(target, cursor):
            seen += 1
            if source.match and not matcher.matches(mention):
                continue
            batch.append(mention)
            if len(batch) >= BATCH:
                flush()
        flush()
        with db.atomic():
            store.save_cursor(db, brand.name, collector.source, target, cursor)
    except sqlite3.Error as exc:
        if _store_failed(exc):
            raise  # the store failed, not the source: the run stops and says so (runner.py)
        status, message = "error", f"{collector.source} {target}: {type(exc).__name__}: {exc}"
    except CollectorError as exc:
        status = "rate_limited" if exc.rate_limited else "error"
        message = str(exc)
    except Exception as exc:  # a bug in one parser must not stop the other sources
        status, message = "error", f"{collector.source} {target}: {type(exc).__name__}: {exc}"
        log.debug("collector crashed", exc_info=True)
    if status != "ok":
        flush()  # keep what arrived before the failure (item by item if need be)
    stats = collector.stats
    skipped = stats.skipped + lost
    where = f"{brand.name} {collector.source} {target}"
    for note in skipped:
        log.warning("%s: %s", where, note)
    for note in repaired:
        log.info("%s: %s", where, note)
    if message:
        result.failures.append(f"{brand.name}: {message}")
        log.error("%s: %s", brand.name, message)
    with db.atomic():
        store.record_source_run(db, {
            "run_id": run_id, "brand": brand.name, "source": collector.source,
            "target": target, "started_at": started_at, "finished_at": store.now_iso(),
            "duration_s": round(time.monotonic() - started, 3), "status": status,
            "seen": seen, "new_rows": new, "requests": stats.requests,
            "http_errors": dict(stats.http_errors),
            "message": _run_message(message, skipped, repaired),
        })
    log.info("%s %s %s: %d seen, %d new (%s)", brand.name, collector.source, target, seen, new,
             status)
    result.new_mentions = new
    return result


def _store_failed(exc: BaseException) -> bool:
    """The database itself failed (locked, full, read-only, damaged): stop the run. Not a
    value it refused (a binding or constraint error), which is about one mention."""
    return isinstance(exc, sqlite3.Error) and not isinstance(exc, (
        sqlite3.InterfaceError, sqlite3.ProgrammingError, sqlite3.IntegrityError,
        sqlite3.DataError))


def _run_message(message: str | None, skipped: list[str], repaired: list[str]) -> str | None:
    """source_runs.message: the error, then what was skipped or repaired (first of each)."""
    parts = [message] if message else []
    if skipped:
        parts.append(f"{len(skipped)} item(s) skipped, first: {skipped[0]}")
    if repaired:
        parts.append(f"{len(repaired)} field(s) repaired, first: {repaired[0]}")
    return "; ".join(parts)[:1000] or None


# --- score --------------------------------------------------------------------------
def score_stage_key() -> str:
    return f"score:{sentiment.MODEL}:{sentiment.VERSION}"


SCORE_COLUMNS = ("mention_id", "model", "version", "score", "label", "text_score",
                 "rating_score", "disagrees", "lang", "scored_at")
PARALLEL_MIN = 20_000  # a backlog at least this big is scored on every core


def _score_rows(rows: list[tuple[str, str | None, float | None, dict | None]]) -> list[tuple]:
    """(id, text, rating, lexicon) -> score rows without scored_at. Runs in worker processes."""
    out = []
    for mention_id, text, rating, lexicon in rows:
        r = sentiment.analyze(text or "", rating, lexicon)
        out.append((mention_id, sentiment.MODEL, sentiment.VERSION, round(r.score, 4), r.label,
                    None if r.text_score is None else round(r.text_score, 4), r.rating_score,
                    int(r.disagrees), r.lang))
    return out


def _workers(db: sqlite_utils.Database, position: tuple[str, str], wanted: int) -> int:
    if wanted == 1 or (os.cpu_count() or 1) == 1:
        return 1
    # A bounded count: cheap on any table size, enough to tell a backfill from a cron run.
    backlog = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM mentions WHERE (collected_at, id) > (?, ?) "
        "LIMIT ?)", [position[0], position[1], PARALLEL_MIN]).fetchone()[0]
    if backlog < PARALLEL_MIN:
        return 1
    return wanted or os.cpu_count() or 1


def score(db: sqlite_utils.Database, config: Config, *, show_progress: bool = True) -> int:
    """Score mentions collected since the last score run, with the current model version.

    A new model version has its own position, so it rescores everything once (a backfill
    with a progress bar, on every core) into new rows; earlier versions' scores stay.
    """
    stage = score_stage_key()
    with db.atomic():
        db.execute("UPDATE models SET current = (model = ? AND version = ?)",
                   [sentiment.MODEL, sentiment.VERSION])
        db.execute("INSERT OR IGNORE INTO models (model, version, current, first_used_at) "
                   "VALUES (?, ?, 1, ?)", [sentiment.MODEL, sentiment.VERSION, store.now_iso()])
    position = store.get_position(db, stage)
    lexicons = {b.name: b.lexicon or None for b in config.brands}
    remaining = 0
    if show_progress and sys.stderr.isatty():
        remaining = db.execute(
            "SELECT count(*) FROM mentions WHERE (collected_at, id) > (?, ?)",
            [position[0], position[1]]).fetchone()[0]
    workers = _workers(db, position, config.earful["score_workers"])
    sentiment.model()  # read the model file once, before any fork, so workers share it
    pool = None
    if workers > 1:
        import multiprocessing

        pool = multiprocessing.get_context("fork").Pool(workers)
    batch = SCORE_BATCH * workers
    insert = (f"INSERT OR IGNORE INTO scores ({', '.join(SCORE_COLUMNS)}) "
              f"VALUES ({', '.join('?' * len(SCORE_COLUMNS))})")
    total = 0
    try:
        with progress(remaining, "Scoring", show_progress) as bar:
            while True:
                rows = store.mentions_after(db, position, batch,
                                            "id, collected_at, brand, title, body, rating")
                if not rows:
                    break
                work = [(r["id"], "\n".join(p for p in (r["title"], r["body"]) if p),
                         r["rating"], lexicons.get(r["brand"])) for r in rows]
                if pool is not None:
                    size = -(-len(work) // workers)
                    parts = pool.map(_score_rows, [work[i:i + size]
                                                   for i in range(0, len(work), size)])
                    scored = [row for part in parts for row in part]
                else:
                    scored = _score_rows(work)
                scored_at = store.now_iso()
                start, position = position, (rows[-1]["collected_at"], rows[-1]["id"])
                with db.atomic():
                    db.conn.executemany(insert, [(*row, scored_at) for row in scored])
                    store.save_facts(db, start, position)
                    store.save_position(db, stage, position)
                total += len(rows)
                bar.update(len(rows))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return total


# --- detect -------------------------------------------------------------------------
def detector_params(config: Config) -> dict[str, Any]:
    return {"false_alarms_per_month": config.detection["false_alarms_per_month"],
            "bucket_hours": config.detection["bucket_hours"]}


def detect(db: sqlite_utils.Database, config: Config, *, now: dt.datetime | None = None,
           brands: list[str] | None = None) -> StageResult:
    """Feed every closed bucket since the last run to the detector, in order, per brand.

    The state is persisted at a checkpoint ``REREAD_BUCKETS`` behind the newest closed
    bucket, so the next run counts those buckets again (late mentions) and replays them;
    events it already recorded are keyed by time and are not recorded twice.
    """
    result = StageResult()
    now = now or utcnow()
    step = dt.timedelta(hours=config.detection["bucket_hours"])
    end = bucket_floor(now, step)  # buckets starting before this are closed
    refresh_daily_counts(db)  # source_series reads them; incremental, so cheap
    params = detector_params(config)
    for brand in config.brands:
        if (brands and brand.name not in brands) or brand.competitor:
            continue  # competitors are collected and charted, never alerted on
        # "all" first: a source's episode inside an open brand episode sends no second email.
        for series in ["all", *source_series(db, config, brand.name, end)]:
            result.merge(_detect_series(db, config, brand.name, series, end, step, params))
    return result


def bucket_floor(moment: dt.datetime, step: dt.timedelta) -> dt.datetime:
    seconds = int(step.total_seconds())
    return dt.datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, dt.UTC)


def source_series(db: sqlite_utils.Database, config: Config, brand: str,
                  end: dt.datetime) -> list[str]:
    """Sources of a brand busy enough for a series of their own, plus any already running.

    Judged on 14 days of daily_counts (a few dozen rows, whatever the volume), which
    detect() brings up to date first, so a first run sees the same series as the next.
    """
    since = (end - dt.timedelta(days=14)).strftime("%Y-%m-%d")
    busy = {source for (source,) in db.execute(
        "SELECT source FROM daily_counts WHERE brand = ? AND day >= ? AND day < ? "
        "GROUP BY source HAVING sum(mentions) / 14.0 >= ?",
        [brand, since, end.strftime("%Y-%m-%d"),
         config.detection["min_source_mentions_per_day"]])}
    running = {series for (series,) in db.execute(
        "SELECT series FROM detector_states WHERE brand = ? AND series != 'all'", [brand])}
    return sorted(busy | running)


def _detect_series(db: sqlite_utils.Database, config: Config, brand: str, series: str,
                   end: dt.datetime, step: dt.timedelta, params: dict[str, Any]) -> StageResult:
    result = StageResult()
    row = db.execute("SELECT state, checkpoint_at FROM detector_states WHERE brand = ? AND "
                     "series = ?", [brand, series]).fetchone()
    where, args = ("", []) if series == "all" else (" AND source = ?", [series])
    if row:
        state = spikes.State.from_json(row[0])
        start = parse_iso(row[1]) + step
    else:
        first = db.execute(f"SELECT min(created_at) FROM mention_facts WHERE brand = ?{where}",
                           [brand, *args]).fetchone()[0]
        if first is None:
            return result
        start = max(bucket_floor(parse_iso(first), step),
                    end - dt.timedelta(days=MAX_BACKFILL_DAYS))
        state = spikes.new_state(params)
    if start >= end:
        return result
    seconds = int(step.total_seconds())
    counts = {
        iso(b): (n, y) for b, n, y in db.execute(
            "SELECT CAST(strftime('%s', created_at) AS INTEGER) / ? * ? AS b, count(*), "
            "coalesce(sum(label = 'negative'), 0) FROM mention_sentiments "
            f"WHERE brand = ?{where} AND created_at >= ? AND created_at < ? GROUP BY b",
            [seconds, seconds, brand, *args, iso(start), iso(end)])
    }
    checkpoint_until = end - step * REREAD_BUCKETS
    checkpoint_state, checkpoint_at = None, None
    bucket_rows, events = [], []
    moment = start
    while moment < end:
        at = iso(moment)
        n, y = counts.get(at, (0, 0))
        for event in spikes.step(state, at, n, y, params):
            events.append(event)
        bucket_rows.append({"brand": brand, "series": series, "bucket_at": at, "n": n, "y": y,
                            "expected": state.expected})
        # Only the last bucket before checkpoint_until is kept: serialise it once, not every
        # hour (a copy per bucket was most of a backfill's detect time). The JSON is what is
        # stored, and writing it is several times cheaper than a deepcopy of the state.
        if moment < checkpoint_until <= moment + step:
            checkpoint_state, checkpoint_at = state.to_json(), at
        moment += step
    with db.atomic():
        db.table("buckets").upsert_all(bucket_rows, pk=("brand", "series", "bucket_at"))
        for event in events:
            result.episodes_opened += _record_event(db, config, brand, series, event)
        if checkpoint_state is not None:
            db.table("detector_states").upsert({
                "brand": brand, "series": series, "state": checkpoint_state,
                "checkpoint_at": checkpoint_at, "last_bucket_at": bucket_rows[-1]["bucket_at"],
                "updated_at": store.now_iso()}, pk=("brand", "series"))
    return result


def _record_event(db: sqlite_utils.Database, config: Config, brand: str, series: str,
                  event: dict[str, Any]) -> int:
    """Turn a detector event into episode rows and a pending alert. Returns 1 if opened."""
    numbers = event.get("numbers", {})
    at = event["at"]
    opened = 0
    if event["type"] == "open":
        episode_id = f"{brand}/{series}/{at}"
        inserted = db.execute(
            "INSERT OR IGNORE INTO episodes (id, brand, series, status, opened_at, rule, params, "
            "count, expected, share, baseline_share, statistic, threshold, peak_statistic, "
            "peak_count, summary, updated_at) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?)",
            [episode_id, brand, series, at, event.get("rule", ""),
             json.dumps(event.get("params", {}), sort_keys=True), numbers.get("count"),
             numbers.get("expected"), numbers.get("share"), numbers.get("baseline_share"),
             numbers.get("statistic"), numbers.get("threshold"), numbers.get("statistic"),
             numbers.get("count"), event.get("summary"), store.now_iso()]).rowcount
        opened = inserted
    else:
        row = db.execute("SELECT id FROM episodes WHERE brand = ? AND series = ? AND "
                         "opened_at <= ? ORDER BY opened_at DESC LIMIT 1",
                         [brand, series, at]).fetchone()
        if row is None:
            return 0
        episode_id = row[0]
        if event["type"] == "close":
            db.execute("UPDATE episodes SET status = 'closed', closed_at = ?, updated_at = ? "
                       "WHERE id = ?", [at, store.now_iso(), episode_id])
        else:
            db.execute(
                "UPDATE episodes SET peak_statistic = max(coalesce(peak_statistic, 0), ?), "
                "peak_count = max(coalesce(peak_count, 0), ?), updated_at = ? WHERE id = ?",
                [numbers.get("statistic") or 0, numbers.get("count") or 0, store.now_iso(),
                 episode_id])
    if event["type"] == "close" and not config.alerts.send_closing_note:
        return opened
    if series != "all" and db.execute(
            "SELECT 1 FROM episodes WHERE brand = ? AND series = 'all' AND opened_at <= ? AND "
            "(closed_at IS NULL OR closed_at >= ?)", [brand, at, at]).fetchone():
        return opened  # the brand-wide email already covers this source's storm
    outbox.queue_alert(db, config, kind=event["type"], episode_id=episode_id, brand=brand,
                       event_at=at)
    if event["type"] == "escalate":
        db.execute("UPDATE episodes SET escalations = (SELECT count(*) FROM alerts WHERE "
                   "episode_id = ? AND kind = 'escalate') WHERE id = ?", [episode_id, episode_id])
    return opened


# --- publish ------------------------------------------------------------------------
def publish(db: sqlite_utils.Database, config: Config | None = None,
            now: dt.datetime | None = None) -> int:
    """Bring what Datasette shows up to date: the per-day counts for the charts and the
    terms of "what people complain about this week". Both work only on what changed."""
    from .complaints import refresh_complaint_terms

    groups = refresh_daily_counts(db)
    if config:  # which brands are competitors: Datasette's charts read it
        wanted = sorted((b.name, int(b.competitor)) for b in config.brands)
        # Written only when the config changed: not a write transaction on every cron run.
        if db.execute("SELECT name, competitor FROM brands ORDER BY name").fetchall() != wanted:
            with db.atomic():
                db.execute("DELETE FROM brands")
                db.conn.executemany("INSERT INTO brands (name, competitor) VALUES (?, ?)",
                                    wanted)
    words = {b.name: [b.name, *b.keywords] for b in config.brands} if config else None
    refresh_complaint_terms(db, now, brand_words=words)
    return groups


def refresh_daily_counts(db: sqlite_utils.Database) -> int:
    """Refresh the per-day chart counts for the days touched since the last refresh.

    Work is proportional to what is new (mentions collected, labels changed), not to the
    size of the table. Returns the number of (brand, day) groups refreshed.
    """
    position = store.get_position(db, "publish")
    labels_since = store.get_position(db, "publish:labels")[0]
    # Only what the score stage has reached: an unscored day counted now would stay wrong.
    scored_up_to = store.get_position(db, score_stage_key())
    touched: dict[str, set[str]] = {}
    last = position
    while last < scored_up_to:
        rows = store.mentions_after(db, last, 5000, "id, collected_at, brand, created_at")
        rows = [r for r in rows if (r["collected_at"], r["id"]) <= scored_up_to]
        if not rows:
            break
        for row in rows:
            touched.setdefault(row["brand"], set()).add(row["created_at"][:10])
        last = (rows[-1]["collected_at"], rows[-1]["id"])
    # CROSS JOIN keeps labels outer: left to itself SQLite scanned every mention (2 s at 10M).
    labelled = db.execute("SELECT m.brand, substr(m.created_at, 1, 10), max(l.labelled_at) "
                          "FROM labels l CROSS JOIN mentions m ON m.id = l.mention_id "
                          "WHERE l.labelled_at > ? GROUP BY 1, 2", [labels_since]).fetchall()
    newest_label = labels_since
    for brand, day, labelled_at in labelled:
        touched.setdefault(brand, set()).add(day)
        newest_label = max(newest_label, labelled_at)
    groups = 0
    with db.atomic():
        for brand, days in touched.items():
            for day in sorted(days):
                rows = db.execute(
                    "SELECT source, count(*), coalesce(sum(sentiment = 'negative'), 0), "
                    "avg(rating) FROM mention_facts WHERE brand = ? AND created_at >= ? AND "
                    "created_at < ? GROUP BY source", [brand, day, day + "T99"]).fetchall()
                db.execute("DELETE FROM daily_counts WHERE brand = ? AND day = ?", [brand, day])
                db.table("daily_counts").insert_all(
                    {"brand": brand, "source": source, "day": day, "mentions": n,
                     "negatives": neg, "negative_share": round(neg / n, 4) if n else None,
                     "avg_rating": None if avg is None else round(avg, 2)}
                    for source, n, neg, avg in rows)
                groups += 1
        if last != position:
            store.save_position(db, "publish", last)
        if newest_label != labels_since:
            store.save_position(db, "publish:labels", (newest_label, ""))
    return groups
