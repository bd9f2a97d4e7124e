"""RSS and Atom feeds (e.g. Google Alerts): fetched with requests, parsed by feedparser.

feedparser has no timeout, so it never touches the network here: the polite Fetcher
gets the bytes (with ETag/Last-Modified from the cursor) and feedparser only parses.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import feedparser
import requests

from .base import Collector, CollectorError, Mention, iso, parse_time
from .http import Fetcher, as_fetcher
from .text import html_to_text, stable_id

SOURCE = "feed"
# feedparser takes ~1 ms and a few KB per entry: 100,000 entries took 110 s and 290 MB.
# Feeds list newest first and a real one holds tens; the rest of a huge one is not read.
MAX_ENTRIES = 1000
_ENTRY_END = re.compile(rb"</(?:[A-Za-z0-9_.-]+:)?(?:item|entry)\s*>")


class FeedError(CollectorError):
    """A feed could not be fetched, or what came back is not a feed."""


class FeedCollector(Collector):
    """Target: the feed URL. Cursor: ``etag``, ``last_modified`` (conditional GET)."""

    source = SOURCE

    def __init__(self, http: Fetcher | requests.Session) -> None:
        super().__init__()
        self.http = as_fetcher(http)

    def collect(self, target: str, cursor: dict[str, Any]) -> Iterator[Mention]:
        response = self.http.get(
            target, stats=self.stats, source=SOURCE, error=FeedError,
            etag=cursor.get("etag"), last_modified=cursor.get("last_modified"), robots=False,
        )
        if response is None:
            return
        self.stats.pages += 1
        if response.status_code == 304:
            self.stats.notes.append("not modified since the last run (304)")
            return
        mentions = parse_feed(response.content, target,
                              content_type=response.headers.get("Content-Type", ""),
                              collector=self)
        if response.headers.get("ETag"):
            cursor["etag"] = response.headers["ETag"]
        if response.headers.get("Last-Modified"):
            cursor["last_modified"] = response.headers["Last-Modified"]
        yield from mentions


def parse_feed(content: bytes, feed_url: str, content_type: str = "",
               collector: Collector | None = None) -> list[Mention]:
    """Feed bytes -> Mentions. Raises FeedError when the bytes are not an RSS/Atom feed.

    With a ``collector``, a malformed entry is skipped with a note in its stats.
    """
    content, cut = first_entries(content, MAX_ENTRIES)
    if cut and collector is not None:
        collector.stats.notes.append(f"more than {MAX_ENTRIES} entries: the first {MAX_ENTRIES} "
                                     "read")
    parsed = feedparser.parse(safe_char_refs(content),
                              response_headers={"content-location": feed_url,
                                                "content-type": content_type})
    if not parsed.get("version"):
        what = content_type.split(";")[0].strip() or "unknown content type"
        reason = parsed.get("bozo_exception")
        detail = f": {reason}" if reason else ""
        raise FeedError(f"not a feed ({what}, {len(content)} bytes){detail}", source=SOURCE,
                        url=feed_url)
    collected_at = iso(dt.datetime.now(dt.UTC))
    convert = lambda entry: _entry_mention(entry, feed_url, collected_at)  # noqa: E731
    if collector is None:
        return [convert(entry) for entry in parsed.entries]
    return collector.read_items(parsed.entries, convert,
                                id_of=lambda entry: entry.get("id") or entry.get("link"),
                                error=FeedError, url=feed_url)


def first_entries(content: bytes, limit: int) -> tuple[bytes, bool]:
    """The feed up to the end of its ``limit``-th entry (feedparser reads a cut feed), and
    whether anything was cut."""
    for number, end in enumerate(_ENTRY_END.finditer(content), 1):
        if number == limit:
            rest = content[end.end():]
            return (content[:end.end()], True) if _ENTRY_END.search(rest) else (content, False)
    return content, False


# A numeric character reference to a code point no text can hold: a lone surrogate
# (&#xD83D;, half an emoji), beyond U+10FFFF, or NUL. feedparser raised on the first two
# for the whole feed; they become U+FFFD before it parses.
_CHAR_REF = re.compile(rb"&#([xX][0-9a-fA-F]{1,16}|[0-9]{1,20});")


def safe_char_refs(content: bytes) -> bytes:
    if b"&#" not in content:
        return content

    def fix(match: re.Match[bytes]) -> bytes:
        digits = match.group(1)
        point = int(digits[1:], 16) if digits[:1] in (b"x", b"X") else int(digits)
        if point == 0 or 0xD800 <= point <= 0xDFFF or point > 0x10FFFF:
            return b"&#xFFFD;"
        return match.group(0)

    return _CHAR_REF.sub(fix, content)


def _entry_mention(entry: Any, feed_url: str, collected_at: str) -> Mention:
    link = unwrap_redirect(entry.get("link")) if entry.get("link") else None
    title = html_to_text(entry.get("title"))
    content = entry.get("content")
    body_html = content[0].get("value") if content else entry.get("summary")
    body = html_to_text(body_html)
    native_id = entry.get("id") or link or stable_id(feed_url, title, body)
    when = _entry_time(entry)
    extra: dict[str, Any] = {}
    if when is None:
        extra["date_missing"] = True  # sorted by when we saw it instead
    return Mention(
        source=SOURCE, native_id=native_id, kind="article", target=feed_url,
        created_at=when or collected_at, url=link, author=entry.get("author") or None,
        title=title or None, body=body or None, lang=entry.get("language") or None, extra=extra,
    )


def _entry_time(entry: Any) -> str | None:
    for key in ("published", "updated", "created"):
        parsed = entry.get(f"{key}_parsed")
        try:
            found = parse_time(calendar.timegm(parsed)) if parsed else None
        except (ValueError, OverflowError):  # year 0: feedparser's answer to an odd date
            found = None
        if found:
            return found
        found = parse_time(entry.get(key))
        if found:
            return found
    return None


def unwrap_redirect(link: str) -> str:
    """Google Alerts links point at google.com/url?...&url=REAL: keep the real one."""
    parts = urlsplit(link)
    host = parts.netloc.lower()
    if (host == "google.com" or host.endswith(".google.com")) and parts.path == "/url":
        query = parse_qs(parts.query)
        for key in ("url", "q"):
            if query.get(key) and query[key][0].startswith(("http://", "https://")):
                return query[key][0]
    return link
