"""An episode's evidence, read from the store: window, counts by source, chart bins, the
worst mentions, what people complain about. Returns plain dataclasses; nothing here knows
about email, chat or HTML."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from collectors.base import parse_iso

from .. import chart
from .. import db as store
from ..config import Config
from .sql import rows
from .text import Links, clean

CHART_DAYS = 7
CHART_BIN_HOURS = 3  # 56 bars over a week: the storm stands out, the bars stay visible
MAX_RUN_BACK_BUCKETS = 6  # how far before the opening hour the evidence may start


@dataclass
class SourceCount:
    source: str
    negatives: int
    total: int


@dataclass
class Evidence:
    """Everything an episode email shows, as plain values (gathered from the database)."""

    alert: dict[str, Any]
    episode: dict[str, Any]
    worst: list[dict[str, Any]] = field(default_factory=list)
    by_source: list[SourceCount] = field(default_factory=list)
    window_start: str = ""
    window_end: str = ""
    negatives: int = 0
    total: int = 0
    expected: float | None = None
    bins: list[chart.Bin] = field(default_factory=list)
    bin_hours: int = CHART_BIN_HOURS
    terms: list[str] = field(default_factory=list)
    datasette_url: str = ""
    database_name: str = "earful"

    @property
    def links(self) -> Links:
        return Links(self.datasette_url, self.database_name)

    @property
    def hours(self) -> int:
        return max(1, round((parse_iso(self.window_end) - parse_iso(self.window_start))
                            .total_seconds() / 3600))

    @property
    def ratio(self) -> float | None:
        return self.negatives / self.expected if self.expected and self.negatives else None


def evidence_window(db: sqlite_utils.Database, config: Config, alert: dict[str, Any],
                    episode: dict[str, Any]) -> tuple[str, str]:
    """Where the evidence starts and ends.

    It starts where the excess started: the opening bucket, walked back over the buckets
    just before it whose negatives were already above usual (a slow start counts). It
    ends with the bucket of the event (open, escalate), or when the episode closed.
    """
    step = dt.timedelta(hours=config.detection["bucket_hours"])
    opened = parse_iso(episode["opened_at"])
    start = opened
    for row in db.execute(
            "SELECT bucket_at, y, expected FROM buckets WHERE brand = ? AND series = ? AND "
            "bucket_at < ? AND bucket_at >= ? ORDER BY bucket_at DESC",
            [episode["brand"], episode["series"], episode["opened_at"],
             store.iso(opened - step * MAX_RUN_BACK_BUCKETS)]).fetchall():
        if row[1] <= (row[2] or 0) + 0.5:
            break
        start = parse_iso(row[0])
    if alert["kind"] == "close" and episode.get("closed_at"):
        end = parse_iso(episode["closed_at"]) + step
    else:
        end = max(parse_iso(alert["event_at"]), opened) + step
    return store.iso(start), store.iso(end)


def chart_bins(db: sqlite_utils.Database, brand: str, series: str, end: dt.datetime,
               *, days: int = CHART_DAYS, bin_hours: int = CHART_BIN_HOURS) -> list[chart.Bin]:
    """Negatives and the detector's expected negatives per ``bin_hours``, last ``days`` days.

    From ``buckets`` (what the detector saw); where it has no rows (detection not run yet)
    from the mentions themselves, without a usual line.
    """
    step = dt.timedelta(hours=bin_hours)
    stop = end.replace(minute=0, second=0, microsecond=0)
    stop += dt.timedelta(hours=(-stop.hour) % bin_hours)
    start = stop - dt.timedelta(days=days)
    found = db.execute(
        "SELECT bucket_at, y, expected FROM buckets WHERE brand = ? AND series = ? AND "
        "bucket_at >= ? AND bucket_at < ?", [brand, series, store.iso(start), store.iso(stop)]
    ).fetchall()
    sums: dict[int, list[float]] = {}
    if found:
        for at, y, expected in found:
            slot = int((parse_iso(at) - start) / step)
            acc = sums.setdefault(slot, [0.0, 0.0])
            acc[0] += y
            acc[1] += expected or 0.0
    else:
        for (at,) in db.execute(
                "SELECT created_at FROM mention_sentiments WHERE brand = ? AND label = "
                "'negative' AND created_at >= ? AND created_at < ?",
                [brand, store.iso(start), store.iso(stop)]).fetchall():
            slot = int((parse_iso(at) - start) / step)
            sums.setdefault(slot, [0.0, 0.0])[0] += 1
    count = int((stop - start) / step)
    return [chart.Bin(start + step * i, sums.get(i, [0.0, 0.0])[0],
                      sums.get(i, [0.0, 0.0])[1] if found else None) for i in range(count)]


def complaint_terms(window: list[tuple[str, str]], background: list[str],
                    brand_words: list[str], limit: int = 6) -> list[str]:
    """What people complain about, as "term (mentions)": a small adapter over
    ``analysis.terms.complaints``. Without that module, or if it fails, the section is
    left out: the email must go out regardless."""
    try:
        from analysis import terms as terms_module
    except ImportError:
        return []
    fn = getattr(terms_module, "complaints", None)
    if not callable(fn) or not window:
        return []
    try:
        found = fn(window, background, brand_words, top=limit)
    except Exception:  # a bug there must not stop the alert
        return []
    out = []
    for item in found or []:
        term, count = getattr(item, "term", None), getattr(item, "window_count", None)
        if isinstance(term, str) and term.strip():
            out.append(clean(term, 40) + (f" ({count})" if isinstance(count, int) else ""))
    return out[:limit]


def worst_mentions(db: sqlite_utils.Database, brand: str, start: str, end: str,
                   limit: int, series: str = "all") -> list[dict[str, Any]]:
    """The most negative mentions of a window, worst first (episode emails and digests);
    a source's own episode (``series``) shows only that source's."""
    return rows(
        db,
        "SELECT m.id, m.source, m.kind, m.url, m.author, m.title, m.body, m.rating, "
        "m.created_at, ms.score FROM mention_sentiments ms JOIN mentions m ON m.rowid = "
        "ms.mention_rowid WHERE ms.brand = ? AND ms.created_at >= ? AND ms.created_at < ? AND "
        "ms.label = 'negative' AND (? = 'all' OR ms.source = ?) "
        "ORDER BY ms.score ASC, m.created_at DESC LIMIT ?",
        [brand, start, end, series, series, limit])


def window_terms(db: sqlite_utils.Database, brand: str, start: str, end: str,
                 keywords: list[str]) -> list[str]:
    """What the window's negatives complain about, against the brand's 28 days before."""
    # A line break between title and body: a two-word phrase must not span the two.
    texts = [(r[0], "\n".join(t for t in r[1:] if t)) for r in db.execute(
        "SELECT m.id, m.title, m.body FROM mention_sentiments ms JOIN mentions m ON m.rowid = "
        "ms.mention_rowid WHERE ms.brand = ? AND ms.created_at >= ? AND ms.created_at < ? AND "
        "ms.label = 'negative' ORDER BY m.created_at DESC LIMIT 2000",
        [brand, start, end]).fetchall()]
    background = ["\n".join(t for t in r if t) for r in db.execute(
        "SELECT m.title, m.body FROM mention_sentiments ms JOIN mentions m ON m.rowid = "
        "ms.mention_rowid WHERE ms.brand = ? AND ms.created_at >= ? AND ms.created_at < ? "
        "LIMIT 5000", [brand, store.iso(parse_iso(start) - dt.timedelta(days=28)), start]
    ).fetchall()]
    return complaint_terms(texts, background, [w.strip('"') for w in keywords])


def gather(db: sqlite_utils.Database, config: Config, alert: dict[str, Any]) -> Evidence:
    """An episode email's evidence, from the database."""
    episode = rows(db, "SELECT * FROM episodes WHERE id = ?", [alert["episode_id"]])[0]
    start, end = evidence_window(db, config, alert, episode)
    brand, series = alert["brand"], episode["series"]
    # A source's own episode counts that source only, as its detector and Datasette's
    # evidence page (episode_evidence) do.
    window = [brand, start, end, series, series]
    worst = worst_mentions(db, brand, start, end, max(1, config.alerts.worst_mentions), series)
    by_source = [SourceCount(*r) for r in db.execute(
        "SELECT source, coalesce(sum(label = 'negative'), 0), count(*) FROM mention_sentiments "
        "WHERE brand = ? AND created_at >= ? AND created_at < ? AND (? = 'all' OR source = ?) "
        "GROUP BY source HAVING sum(label = 'negative') > 0 ORDER BY 2 DESC, 1",
        window).fetchall()]
    total = db.execute("SELECT count(*) FROM mention_sentiments WHERE brand = ? AND "
                       "created_at >= ? AND created_at < ? AND (? = 'all' OR source = ?)",
                       window).fetchone()[0]
    expected = db.execute("SELECT sum(expected) FROM buckets WHERE brand = ? AND series = ? "
                          "AND bucket_at >= ? AND bucket_at < ?",
                          [brand, episode["series"], start, end]).fetchone()[0]
    try:
        words = config.brand(brand).keywords
    except Exception:
        words = [brand]
    links = Links.of(config)
    return Evidence(
        alert=alert, episode=episode, worst=worst, by_source=by_source, window_start=start,
        window_end=end, negatives=sum(s.negatives for s in by_source), total=total,
        expected=expected, bins=chart_bins(db, brand, episode["series"], parse_iso(end)),
        terms=window_terms(db, brand, start, end, words),
        datasette_url=links.base, database_name=links.database)


@dataclass
class ChartData:
    bins: list[chart.Bin]
    shade: tuple[dt.datetime, dt.datetime]
    step: dt.timedelta


def episode_chart(db: sqlite_utils.Database, episode_id: str) -> ChartData | None:
    """The bars behind a chat card's chart image (served by the Datasette plugin): the week
    up to the episode's end, or its last bucket while it is open -- never the wall clock."""
    found = rows(db, "SELECT brand, series, opened_at, closed_at FROM episodes WHERE id = ?",
                 [episode_id])
    if not found:
        return None
    ep = found[0]
    last = ep["closed_at"] or db.execute(
        "SELECT max(bucket_at) FROM buckets WHERE brand = ? AND series = ?",
        [ep["brand"], ep["series"]]).fetchone()[0] or ep["opened_at"]
    step = dt.timedelta(hours=CHART_BIN_HOURS)
    end = max(parse_iso(last), parse_iso(ep["opened_at"])) + dt.timedelta(hours=1)
    bins = chart_bins(db, ep["brand"], ep["series"], end)
    return ChartData(bins, (parse_iso(ep["opened_at"]), end), step)
