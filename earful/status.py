"""What `earful status` shows: per source its health, per brand its open episodes."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from typing import Any

import sqlite_utils

from collectors.base import parse_iso

from . import db as store
from .config import Config
from .lock import is_held, read_note

FAILING_RUNS = 3  # a source failing this many runs in a row is flagged
SILENT_RUNS = 5  # ...or bringing nothing for this many runs and a day, when it usually does


def targets(db: sqlite_utils.Database) -> list[tuple[str, str, str]]:
    """The (brand, source, target)s in use: every one collected at least once (it has a
    cursor) and every one the latest collecting run tried (one that never worked yet).

    Both are index lookups: this runs on every cron run (health alerts), and scanning
    source_runs, which gains a row per target per run, would grow with history.
    """
    latest = db.execute("SELECT run_id FROM source_runs ORDER BY id DESC LIMIT 1").fetchone()
    found = set(db.execute("SELECT brand, source, target FROM cursors").fetchall())
    if latest:
        found |= set(db.execute("SELECT brand, source, target FROM source_runs WHERE run_id = ?",
                                [latest[0]]).fetchall())
    return sorted(found)


def health(db: sqlite_utils.Database, *, with_rows: bool = False) -> list[dict[str, Any]]:
    """One dict per target in use (see ``targets``), judged on its last 20 runs.

    ``with_rows`` adds how many mentions each has stored: for the status screen only, as
    counting grows with the table.
    """
    out = []
    for brand, source, target in targets(db):
        recent = db.execute(
            "SELECT started_at, status, new_rows, message FROM source_runs WHERE brand = ? AND "
            "source = ? AND target = ? ORDER BY started_at DESC, id DESC LIMIT 20",
            [brand, source, target]).fetchall()
        last_ok = db.execute(
            "SELECT max(started_at) FROM source_runs WHERE brand = ? AND source = ? AND "
            "target = ? AND status = 'ok'", [brand, source, target]).fetchone()[0]
        last_error = next(((r[0], r[3]) for r in recent if r[1] != "ok"), (None, None))
        failing = 0
        for row in recent:
            if row[1] == "ok":
                break
            failing += 1
        silent = 0
        for row in recent:
            if row[2]:
                break
            silent += 1
        if not recent:  # a cursor but no run recorded (a database from before source_runs)
            continue
        productive = sum(1 for r in recent if r[2]) / len(recent)
        # "Stale" needs productive runs among the last 20, so the newest of them is enough.
        last_new = next((r[0] for r in recent if r[2]), None)
        stale = (last_new is not None and silent >= SILENT_RUNS and productive >= 0.3 and
                 _age_hours(last_new) >= 24)
        flag = (f"failing {failing} runs in a row" if failing >= FAILING_RUNS else
                f"nothing new for {silent} runs since {last_new}" if stale else "")
        row = {"brand": brand, "source": source, "target": target, "last_ok": last_ok,
               "last_error_at": last_error[0], "last_error": last_error[1],
               "failing_runs": failing, "flag": flag}
        if with_rows:
            # What the runs stored: an index range on source_runs, where counting the
            # target's mentions would read every mention of the brand (no index has target).
            row["rows"] = db.execute("SELECT coalesce(sum(new_rows), 0) FROM source_runs "
                                     "WHERE brand = ? AND source = ? AND target = ?",
                                     [brand, source, target]).fetchone()[0]
        out.append(row)
    return out


def _age_hours(at: str) -> float:
    then = parse_iso(at)
    return (dt.datetime.now(dt.UTC) - then).total_seconds() / 3600


INTEGRITY_SECONDS = 10.0  # quick_check reads every page: ~2 minutes for 1.4 GB on a busy disk


def integrity(db: sqlite_utils.Database, budget: float = INTEGRITY_SECONDS) -> list[str] | None:
    """What SQLite's quick check finds wrong ([] if fine), or None if it did not finish
    within ``budget`` seconds (a big database: it is stopped, not waited for)."""
    timer = threading.Timer(budget, db.conn.interrupt)
    timer.start()
    try:
        found = [row[0] for row in db.execute("PRAGMA quick_check(10)").fetchall()]
    except sqlite3.OperationalError as exc:
        if "interrupt" in str(exc):
            return None
        return [str(exc)]
    except sqlite3.DatabaseError as exc:  # e.g. "database disk image is malformed"
        return [str(exc)]
    finally:
        timer.cancel()
    return [] if found == ["ok"] else found


def render_last_run(config: Config, last: tuple | None) -> list[str]:
    if not last:
        return []
    run_id, at, status, message = last
    if status == "running" and not is_held(config.database):
        # No run holds the lock: this one stopped without recording its end.
        note = read_note(config.database)
        status = "stopped before recording its end" + (
            f" ({note})" if note.startswith(f"run {run_id} ") else "")
    line = f"Last run #{run_id} at {at}: {status}"
    # A partial run's failures are the sources' and alerts' own, listed below with them.
    return [line + (f": {message}" if message and status != "partial" else "")]


def render_status(config: Config) -> str:
    db = store.connect(config.database)
    try:
        lines = [f"Database {config.database}"]
        problems = integrity(db)
        if problems:
            lines.append("!! Integrity check FAILED (PRAGMA quick_check): " +
                         "; ".join(problems[:3]) + ". Stop cron, copy the file, and recover "
                         "it (sqlite3 earful.db .recover) or restore a backup.")
        elif problems is None:
            lines.append(f"Integrity check not finished within {INTEGRITY_SECONDS:g} s: run "
                         f"sqlite3 {config.database} 'PRAGMA quick_check' while cron is paused")
        last = db.execute("SELECT id, started_at, status, message FROM runs "
                          "ORDER BY id DESC LIMIT 1").fetchone()
        lines += render_last_run(config, last)
        lines += ["", "Sources:"]
        for h in health(db, with_rows=True):
            mark = "!!" if h["flag"] else ("ok" if h["last_ok"] else "--")
            lines.append(f"  {mark} {h['brand']} {h['source']} {h['target']}: {h['rows']} rows, "
                         f"last worked {h['last_ok'] or 'never'}")
            if h["flag"]:
                lines.append(f"     {h['flag']}")
            if h["last_error"]:
                lines.append(f"     last error {h['last_error_at']}: {h['last_error']}")
        lines += ["", "Episodes:"]
        for brand in config.brands:
            rows = db.execute("SELECT opened_at, summary FROM episodes WHERE brand = ? AND "
                              "status = 'open' ORDER BY opened_at", [brand.name]).fetchall()
            total = db.execute("SELECT count(*) FROM episodes WHERE brand = ?",
                               [brand.name]).fetchone()[0]
            lines.append(f"  {brand.name}: {len(rows)} open, {total} in all")
            lines += [f"    open since {at}: {summary}" for at, summary in rows]
        pending = db.execute("SELECT count(*) FROM alerts WHERE status != 'sent'").fetchone()[0]
        lines += ["", f"Alerts waiting to be sent: {pending}"]
        return "\n".join(lines)
    finally:
        db.close()
