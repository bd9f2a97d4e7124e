"""The record every collector yields, and the contract every collector follows.

A collector turns network answers into ``Mention`` records. It takes its network
dependencies (a ``requests.Session``, a ``praw.Reddit``) in its constructor, never
touches SQLite or config files, raises ``CollectorError`` (or a subclass) on failure
and never exits the process. Incremental state lives in a plain ``cursor`` dict that
the pipeline persists per (source, target) once a target has been fully collected.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

KINDS = ("post", "comment", "review", "story", "article")


def iso(moment: dt.datetime | float | int) -> str:
    """UTC ISO-8601 text, second precision, ``Z`` suffix: sorts as text in SQLite."""
    if isinstance(moment, int | float):
        moment = dt.datetime.fromtimestamp(moment, tz=dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> dt.datetime:
    """``iso()`` text back to an aware UTC datetime."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_time(value: str | float | int | None) -> str | None:
    """Best-effort: epoch seconds or any ISO-8601 string -> ``iso()`` text, else None."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return iso(value)
    text = str(value).strip()
    if text.isdigit():
        return iso(int(text))
    try:
        return iso(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # RFC 822 dates in feeds and headers

    try:
        return iso(parsedate_to_datetime(text))
    except (TypeError, ValueError):
        return None


@dataclass
class Mention:
    """One public mention of a brand: a post, comment, review, story or article."""

    source: str  # collector name: reddit, hackernews, feed, schemaorg, trustpilot, ...
    native_id: str  # the id the source gives it (stable across re-collection)
    kind: str  # one of KINDS
    target: str  # what was watched: subreddit, page URL, feed URL, search query
    created_at: str  # iso(): when it was written at the source
    url: str | None = None
    author: str | None = None
    title: str | None = None
    body: str | None = None
    rating: float | None = None  # 0-5 stars, None for social posts
    lang: str | None = None
    deleted: bool = False  # deleted or removed at the source: kept and marked
    parent_id: str | None = None  # id() of the post a comment belongs to
    extra: dict[str, Any] = field(default_factory=dict)  # source-specific, JSON-able

    @property
    def id(self) -> str:
        return f"{self.source}:{self.native_id}"

    @property
    def text(self) -> str:
        return "\n".join(part for part in (self.title, self.body) if part)

    def as_row(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every field, the slowest step of a bulk save.
        row = {name: getattr(self, name) for name in FIELDS}
        row["id"] = self.id
        return row


FIELDS = tuple(f.name for f in fields(Mention))


class CollectorError(Exception):
    """A source could not be collected. Names the source, the URL and what was wrong."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        url: str | None = None,
        status: int | None = None,
        rate_limited: bool = False,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.url = url
        self.status = status
        self.rate_limited = rate_limited

    def __str__(self) -> str:
        where = " ".join(part for part in (self.source, self.url) if part)
        message = super().__str__()
        return f"{where}: {message}" if where else message


@dataclass
class CollectStats:
    """What one (source, target) collection cost: recorded in the ``source_runs`` table."""

    requests: int = 0
    http_errors: Counter = field(default_factory=Counter)  # status code (or "timeout") -> count
    pages: int = 0
    skipped_robots: int = 0
    notes: list[str] = field(default_factory=list)


class Collector:
    """Base class. Subclasses set ``source`` and implement ``collect``."""

    source: str = ""

    def __init__(self) -> None:
        self.stats = CollectStats()

    def reset_stats(self) -> None:
        self.stats = CollectStats()

    def collect(self, target: str, cursor: dict[str, Any]) -> Iterator[Mention]:
        """Yield mentions for ``target``, newest first where the source allows.

        ``cursor`` is what this collector stored for the target last time ({} the
        first time). Update it in place as you go (newest time seen, ETag, ...); the
        pipeline saves it only after the whole target was collected and stored, so an
        interrupted collection simply starts again from the previous cursor.
        """
        raise NotImplementedError
