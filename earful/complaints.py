"""What people complain about, per brand, kept in the complaint_terms table for Datasette.

The canned page complaints_this_week used to split words in SQL on every view (~0.4 s at a
million mentions). `refresh_complaint_terms`, called by the publish stage, computes the same
question properly with ``analysis.terms.complaints`` (log-odds against the brand's usual talk,
the method the alert emails use) and stores the top terms; the page only reads that table.

Cost does not follow history: per brand it reads at most WINDOW_CAP negatives of the last 7
days and an even sample of BASELINE_CAP mentions of the 28 days before, and only when a cheap
signature of those inputs (counts per hour, kept in fact_hours) changed — and at most once per
``min_interval``, since on a busy database the window changes on every run. A run with
nothing new costs a few index lookups per brand: whole hours are summed from fact_hours and
only the partial hours at the window's edges are counted row by row.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping

import sqlite_utils

from analysis import terms
from collectors.base import iso

PERIOD = "7d"
WINDOW = dt.timedelta(days=7)
BASELINE = dt.timedelta(days=28)  # the usual talk: the four weeks before the window
WINDOW_CAP = 3000  # newest negatives read; the page says how many there were in all
BASELINE_CAP = 5000  # baseline mentions read, sampled evenly over the four weeks
TOP = 40
EXAMPLE_CHARS = 300

# Each distinct brand by index seeks (mention_facts_brand), not a scan of every mention.
_BRANDS = """
WITH RECURSIVE b(brand) AS (
  SELECT min(brand) FROM mention_facts
  UNION ALL
  SELECT (SELECT min(brand) FROM mention_facts WHERE brand > b.brand) FROM b
  WHERE b.brand IS NOT NULL)
SELECT brand FROM b WHERE brand IS NOT NULL
"""


_COUNTS = ("count(*), coalesce(sum(sentiment IS 'negative'), 0), coalesce(sum(mention_rowid), 0), "
           "coalesce(sum(CASE WHEN sentiment IS 'negative' THEN mention_rowid END), 0)")


def _counts(db: sqlite_utils.Database, brand: str, start: str, end: str) -> list[int]:
    """(mentions, negatives, sum of rowids, sum of negatives' rowids) created in [start, end).

    Whole hours come from fact_hours (kept by triggers, migration 17); only the partial
    hours at either end are counted in mention_facts: at most two hours of rows, whatever
    the history or the window's length."""
    first, last = start[:13], end[:13]
    if first == last:
        return list(db.execute(f"SELECT {_COUNTS} FROM mention_facts WHERE brand = ? "
                               "AND created_at >= ? AND created_at < ?",
                               [brand, start, end]).fetchone())
    head = db.execute(f"SELECT {_COUNTS} FROM mention_facts WHERE brand = ? AND created_at >= ? "
                      "AND created_at < ?", [brand, start, _next_hour(start)]).fetchone()
    tail = db.execute(f"SELECT {_COUNTS} FROM mention_facts WHERE brand = ? AND created_at >= ? "
                      "AND created_at < ?", [brand, last + ":00:00Z", end]).fetchone()
    hours = db.execute(
        "SELECT coalesce(sum(mentions), 0), coalesce(sum(negatives), 0), "
        "coalesce(sum(rowids), 0), coalesce(sum(negative_rowids), 0) FROM fact_hours "
        "WHERE brand = ? AND hour > ? AND hour < ?", [brand, first, last]).fetchone()
    return [a + b + c for a, b, c in zip(head, tail, hours, strict=True)]


def _next_hour(moment: str) -> str:
    return iso(dt.datetime.fromisoformat(moment[:13] + ":00:00+00:00") + dt.timedelta(hours=1))


def _signature(db: sqlite_utils.Database, brand: str, start: str, end: str,
               base_start: str) -> tuple[str, int, int]:
    """(signature, negatives in window, baseline mentions): any new mention, sentiment
    correction or mention leaving the window changes it."""
    window = _counts(db, brand, start, end)
    base = _counts(db, brand, base_start, start)
    return ":".join(map(str, window + base)), window[1], base[0]


def _text(title: str | None, body: str | None) -> str:
    # A line break ends a clause: no phrase spans the end of a title and the start of a body.
    return "\n".join(t for t in (title, body) if t)


def refresh_complaint_terms(
    db: sqlite_utils.Database,
    now: dt.datetime | None = None,
    *,
    brand_words: Mapping[str, Iterable[str]] | None = None,
    min_interval: dt.timedelta = dt.timedelta(hours=1),
) -> int:
    """Recompute the complaint terms of the last 7 days for each brand whose inputs changed.

    brand_words: per brand, its names and keywords, left out of the terms (default: the
        brand's name only). min_interval: a brand computed less than this long ago is left
        as it is even if its inputs changed (the page shows when it was computed); a brand
        never computed is always computed. Returns the number of brands recomputed.
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    end, start, base_start = iso(now), iso(now - WINDOW), iso(now - WINDOW - BASELINE)
    stored = {row[0]: (row[1], row[2]) for row in db.execute(
        "SELECT brand, signature, computed_at FROM complaint_periods WHERE period = ?",
        [PERIOD])}
    recomputed = 0
    for (brand,) in db.execute(_BRANDS).fetchall():
        signature, negatives, base_n = _signature(db, brand, start, end, base_start)
        if brand in stored:
            old_signature, computed_at = stored[brand]
            if old_signature == signature or computed_at > iso(now - min_interval):
                continue
        window = [(mid, _text(title, body)) for mid, title, body in db.execute(
            "SELECT m.id, m.title, m.body FROM mention_facts f "
            "JOIN mentions m ON m.rowid = f.mention_rowid "
            "WHERE f.brand = ? AND f.sentiment = 'negative' AND f.created_at >= ? "
            "AND f.created_at < ? ORDER BY f.created_at DESC LIMIT ?",
            [brand, start, end, WINDOW_CAP])]
        # Every k-th mention by rowid: an even sample over the four weeks, not the newest days.
        step = max(1, math.ceil(base_n / BASELINE_CAP))
        baseline = [_text(title, body) for title, body in db.execute(
            "SELECT m.title, m.body FROM mention_facts f "
            "JOIN mentions m ON m.rowid = f.mention_rowid "
            "WHERE f.brand = ? AND f.created_at >= ? AND f.created_at < ? "
            "AND f.mention_rowid % ? = 0 LIMIT ?",
            [brand, base_start, start, step, BASELINE_CAP])]
        words = list((brand_words or {}).get(brand) or []) + [brand]
        found = terms.complaints(window, baseline, [w.strip('"') for w in words], top=TOP)
        with db.atomic():
            db.execute("DELETE FROM complaint_terms WHERE brand = ? AND period = ?",
                       [brand, PERIOD])
            db.conn.executemany(
                "INSERT INTO complaint_terms (brand, period, rank, term, window_count, "
                "baseline_count, z, example_id, example) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(brand, PERIOD, rank, t.term, t.window_count, t.baseline_count, t.z,
                  t.example_id, t.example[:EXAMPLE_CHARS])
                 for rank, t in enumerate(found, start=1)])
            db.execute(
                "INSERT OR REPLACE INTO complaint_periods (brand, period, window_start, "
                "window_end, negatives, window_read, baseline_mentions, baseline_read, "
                "signature, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [brand, PERIOD, start, end, negatives, len(window), base_n, len(baseline),
                 signature, end])
        recomputed += 1
    return recomputed
