"""Run stages under the lock, record the run, and say how it went.

Used by every CLI command that writes. The CLI turns the outcome into an exit code.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import db as store
from . import pipeline
from .alerts import alert_stage
from .config import Config
from .db import BUSY_TIMEOUT_MS, StoreError
from .lock import RunLock

log = logging.getLogger("earful")

STAGES = ("collect", "score", "detect", "alert", "publish")


@dataclass
class Outcome:
    result: pipeline.StageResult
    run_id: int

    @property
    def ok(self) -> bool:
        return not self.result.failures


def run(config: Config, stages: Sequence[str] = STAGES, *, command: str = "run",
        collectors_for: Callable[..., Any] | None = None, brands: list[str] | None = None,
        dry_run: bool = False, echo: Callable[[str], None] | None = None,
        show_progress: bool = True) -> Outcome:
    """Run ``stages`` in order. Raises LockBusy if another run holds the database."""
    with RunLock(config.database, config.earful["lock_wait_seconds"]) as lock:
        db = store.connect(config.database)
        try:
            return _run_stages(db, config, stages, command, collectors_for, brands, dry_run,
                               echo, show_progress, lock)
        except sqlite3.Error as exc:
            raise StoreError(f"{config.database}: {_explain(exc)}") from None
        finally:
            db.close()


def _explain(exc: sqlite3.Error, stored: int | None = None) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        if stored is None:  # before the run started writing
            done = "this run changed nothing"
        else:  # what a stopped run committed stays: say so
            done = (f"this run had stored {stored} new mentions, which are kept"
                    if stored else "this run had stored no new mentions")
        return (f"database is locked by another program for more than "
                f"{BUSY_TIMEOUT_MS // 1000} s; {done}, the next one carries on")
    if "full" in text:  # SQLite's own words first: they are what people search for
        return (f"{text}: every batch committed before it is kept and the next run resumes "
                f"from there")
    if "readonly" in text or "read-only" in text:
        return "the database is read-only for this user"
    return text


def _stored_by(db: Any, run_id: int) -> int | None:
    """New mentions this run committed (a read: it works while another program writes)."""
    try:
        return db.execute("SELECT count(*) FROM mentions WHERE first_seen_run = ?",
                          [run_id]).fetchone()[0]
    except sqlite3.Error:
        return None


def _ended(note: str) -> tuple[int, str] | None:
    """(run id, how it ended) from the note a run left in the lock file, if any."""
    words = note.partition("\n")[2].split(" ", 2)
    if len(words) == 3 and words[0] == "run" and words[1].isdigit():
        return int(words[1]), words[2].partition(": ")[2] or words[2]
    return None


def _run_stages(db: Any, config: Config, stages: Sequence[str], command: str,
                collectors_for: Callable[..., Any] | None, brands: list[str] | None,
                dry_run: bool, echo: Callable[[str], None] | None,
                show_progress: bool, lock: RunLock) -> Outcome:
    # We hold the lock, so a run still marked "running" died (killed, power cut), or could
    # not record its end (it left a note in the lock file saying how it ended).
    with db.atomic():
        ended = _ended(lock.previous)
        if ended:
            db.execute("UPDATE runs SET status = 'failed', message = ?, finished_at = ? "
                       "WHERE id = ? AND status = 'running'",
                       [ended[1], store.now_iso(), ended[0]])
        db.execute("UPDATE runs SET status = 'killed' WHERE status = 'running'")
    run_id = store.start_run(db, command, os.getpid())
    result = pipeline.StageResult()
    status, message = "failed", None
    try:
        if "collect" in stages:
            if collectors_for is None:
                from .sources import Sources

                collectors_for = Sources(config)
            result.merge(pipeline.collect(db, config, run_id, collectors_for, brands))
        if "score" in stages:
            result.scored = pipeline.score(db, config, show_progress=show_progress)
        if "detect" in stages:
            result.merge(pipeline.detect(db, config, brands=brands))
        if "alert" in stages:
            sent, failures = alert_stage(db, config, dry_run=dry_run, echo=echo)
            result.alerts_sent += sent
            result.failures.extend(failures)
            for failure in failures:
                log.error("%s", failure)
        if "publish" in stages:
            pipeline.publish(db, config)
        status = "partial" if result.failures else "ok"
    except sqlite3.Error as exc:
        message = _explain(exc, _stored_by(db, run_id))
        raise StoreError(f"{config.database}: {message}") from None
    except BaseException as exc:  # the reason goes on the run's row for `earful status`
        message = f"{type(exc).__name__}: {exc}"[:500]
        raise
    finally:
        message = message or "; ".join(result.failures)[:2000] or None
        try:
            store.finish_run(
                db, run_id, status, new_mentions=result.new_mentions, scored=result.scored,
                episodes_opened=result.episodes_opened, alerts_sent=result.alerts_sent,
                message=message)
        except sqlite3.Error:  # the database itself is the problem; the caller reports it
            log.debug("could not record the end of run %s", run_id, exc_info=True)
            lock.note(f"run {run_id} {status}: {message or 'could not record its end'}")
    log.info("run %d: %d new mentions, %d scored, %d episodes opened, %d alerts sent",
             run_id, result.new_mentions, result.scored, result.episodes_opened,
             result.alerts_sent)
    return Outcome(result, run_id)

