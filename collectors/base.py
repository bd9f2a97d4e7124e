"""The record every collector yields, and the contract every collector follows.

A collector turns network answers into ``Mention`` records. It takes its network
dependencies (a ``requests.Session``, a ``praw.Reddit``) in its constructor, never
touches SQLite or config files, raises ``CollectorError`` (or a subclass) on failure
and never exits the process. Incremental state lives in a plain ``cursor`` dict that
the pipeline persists per (source, target) once a target has been fully collected.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

KINDS = ("post", "comment", "review", "story", "article")


def iso(moment: dt.datetime | float | int) -> str:
    """UTC ISO-8601 text, second precision, ``Z`` suffix: sorts as text in SQLite.

    An epoch outside what a datetime holds (1e20, -4e10: year -1199) is a ValueError,
    whatever the platform would have raised (OverflowError, OSError).
    """
    if isinstance(moment, int | float):
        try:
            moment = dt.datetime.fromtimestamp(moment, tz=dt.UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"time {_short(moment)} is out of range: {exc}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> dt.datetime:
    """``iso()`` text back to an aware UTC datetime."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_time(value: str | float | int | None) -> str | None:
    """Best-effort: epoch seconds or any ISO-8601 string -> ``iso()`` text, else None.

    A time no datetime can hold (year -1199, 1e20 seconds) is None too, like any other
    unreadable one.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return iso(value)
        text = str(value).strip()
        if text.isdigit():
            return iso(int(text))
        return iso(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        if isinstance(value, int | float) or text.isdigit():
            return None
    from email.utils import parsedate_to_datetime  # RFC 822 dates in feeds and headers

    try:
        return iso(parsedate_to_datetime(text))
    except (TypeError, ValueError, OverflowError):
        return None


def time_field(value: Any, name: str) -> str:
    """iso() of one item's epoch field; a value no datetime can hold is an ItemError naming
    the field, so that item is skipped and its siblings kept."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ItemError(f"{name} {_short(value)} is not a number of seconds", field=name)
    try:
        return iso(value)
    except ValueError as exc:
        why = str(exc).rpartition(": ")[2]
        raise ItemError(f"{name} {_short(value)} is out of range: {why}", field=name) from None


def _short(value: Any, limit: int = 60) -> str:
    """A value as it may appear in a note: a huge number or string does not flood the log."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --- valid text -------------------------------------------------------------------
# Lone UTF-16 surrogates (the first half of a cut-off emoji, JSON "\ud83d") are the only
# code points UTF-8 cannot encode; one of them made SQLite and the fingerprint raise.
_SURROGATES = re.compile("[\ud800-\udfff]")
TEXT_FIELDS = ("source", "native_id", "kind", "target", "created_at", "url", "author", "title",
               "body", "lang", "parent_id")


def valid_text(text: str) -> str:
    """``text`` as UTF-8 can hold it: lone surrogates become U+FFFD (the same object when
    nothing needed replacing, so callers can tell)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text


def repair_mention(mention: Mention) -> list[str]:
    """Make ``mention`` storable, in place: valid text, a finite rating, JSON-able extra.

    Returns one note per field changed ("title: ..."), empty when nothing was wrong. Runs
    before a mention is matched, fingerprinted or stored.
    """
    notes: list[str] = []
    for name in TEXT_FIELDS:
        value = getattr(mention, name)
        if value is None or (type(value) is str and value.isascii()):
            continue
        if not isinstance(value, str):
            setattr(mention, name, valid_text(_short(value, 2000)))
            notes.append(f"{name}: a {type(value).__name__}, stored as text")
            continue
        fixed = valid_text(value)
        if fixed is not value:
            setattr(mention, name, fixed)
            notes.append(f"{name}: invalid characters (lone UTF-16 surrogates) replaced "
                         "with U+FFFD")
    rating = mention.rating
    if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int | float)
                               or not _finite(rating)):
        notes.append(f"rating: {_short(rating)} is not a finite number: stored as none")
        mention.rating = None
    elif isinstance(rating, int):
        mention.rating = float(rating)
    if mention.extra and _json_problem(mention.extra):
        mention.extra = _valid_json(mention.extra)
        notes.append("extra: invalid characters or numbers JSON cannot hold replaced")
    return notes


def _finite(number: int | float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int too large for a float
        return False


def _valid_json(value: Any) -> Any:
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value if _finite(value) else None
    if isinstance(value, dict):
        return {valid_text(k if isinstance(k, str) else _short(k)): _valid_json(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_valid_json(v) for v in value]
    return valid_text(_short(value, 2000))


def _json_problem(value: Any) -> bool:
    """True when ``_valid_json`` would change something (a walk, no copy: the usual case)."""
    if isinstance(value, str):
        return not value.isascii() and valid_text(value) is not value
    if isinstance(value, dict):
        return any(_json_problem(k) or _json_problem(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_json_problem(v) for v in value)
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return not _finite(value)
    return True


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


class ItemError(CollectorError):
    """One item cannot be read (no id, a time no datetime can hold ...): it is skipped with
    a note naming it and the field, and the other items of its page are kept."""

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field


# What reading one malformed item can raise. Not CollectorError in general: a network or
# layout failure stops the target; only ItemError is about the item alone.
ITEM_ERRORS = (ItemError, ValueError, OverflowError, TypeError, KeyError, IndexError,
               AttributeError, RecursionError)


@dataclass
class CollectStats:
    """What one (source, target) collection cost: recorded in the ``source_runs`` table."""

    requests: int = 0
    http_errors: Counter = field(default_factory=Counter)  # status code (or "timeout") -> count
    pages: int = 0
    skipped_robots: int = 0
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # items not stored, and why
    started: float | None = None  # the fetcher's clock at the first request (source deadline)


class Collector:
    """Base class. Subclasses set ``source`` and implement ``collect``."""

    source: str = ""

    def __init__(self) -> None:
        self.stats = CollectStats()

    def reset_stats(self) -> None:
        self.stats = CollectStats()

    def read_item(self, convert: Callable[[], Mention | None], item_id: Any) -> Mention | None:
        """``convert()`` one raw item; a malformed one is skipped with a note (None)."""
        try:
            return convert()
        except ITEM_ERRORS as exc:
            self.skip_item(item_id, exc)
            return None

    def read_items(self, raws: Iterable[Any], convert: Callable[[Any], Mention | None], *,
                   id_of: Callable[[Any], Any], error: type[CollectorError],
                   url: str | None = None) -> list[Mention]:
        """A page's raw items -> Mentions, skipping malformed ones with a note each.

        A page where every item is malformed is an error (the source changed its layout,
        most likely): it names the first problem.
        """
        out: list[Mention] = []
        first, count = "", 0
        for raw in raws:
            count += 1
            try:
                mention = convert(raw)
            except ITEM_ERRORS as exc:
                note = self.skip_item(_item_id(id_of, raw), exc)
                first = first or note
                continue
            if mention is not None:
                out.append(mention)
        if first and not out:
            raise error(f"none of the {count} items is readable: {first}", source=self.source,
                        url=url)
        return out

    def skip_item(self, item_id: Any, exc: BaseException) -> str:
        where = f" field {exc.field}" if getattr(exc, "field", None) else ""
        what = exc.args[0] if isinstance(exc, ItemError) and exc.args else \
            f"{type(exc).__name__}: {exc}"
        note = f"item {_short(item_id, 80)}{where}: {str(what)[:200]}: skipped"
        self.stats.skipped.append(note)
        return note

    def collect(self, target: str, cursor: dict[str, Any]) -> Iterator[Mention]:
        """Yield mentions for ``target``, newest first where the source allows.

        ``cursor`` is what this collector stored for the target last time ({} the
        first time). Update it in place as you go (newest time seen, ETag, ...); the
        pipeline saves it only after the whole target was collected and stored, so an
        interrupted collection simply starts again from the previous cursor.
        """
        raise NotImplementedError


def _item_id(id_of: Callable[[Any], Any], raw: Any) -> Any:
    try:
        return id_of(raw)
    except Exception:  # the id itself is what is malformed
        return "?"
