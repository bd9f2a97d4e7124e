"""Apple App Store customer reviews from the iTunes RSS JSON feed (50 a page, 10 pages)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import requests

from .base import Collector, ItemError, Mention, iso, parse_time
from .http import Fetcher, as_fetcher
from .schemaorg import ReviewError

SOURCE = "appstore"
FEED_PATH = "/{country}/rss/customerreviews/page={page}/id={app}/sortby=mostrecent/json"
MAX_FEED_PAGES = 10  # Apple serves no more than 10 pages


class AppStoreError(ReviewError):
    """The App Store reviews feed failed or was not the expected JSON."""


class AppStoreCollector(Collector):
    """Target: ``<country>:<app id>`` (e.g. ``us:6448311069``) or just the app id (us).

    Cursor: ``newest`` (the newest ``updated`` seen). Most recent first, so paging stops
    at the first page with nothing newer than the cursor minus ``overlap_seconds``.
    """

    source = SOURCE

    def __init__(self, http: Fetcher | requests.Session, *,
                 base_url: str = "https://itunes.apple.com", max_pages: int = MAX_FEED_PAGES,
                 overlap_seconds: int = 86400) -> None:
        super().__init__()
        self.http = as_fetcher(http)
        self.base_url = base_url.rstrip("/")
        self.max_pages = min(max_pages, MAX_FEED_PAGES)
        self.overlap_seconds = overlap_seconds

    def collect(self, target: str, cursor: dict[str, Any]) -> Iterator[Mention]:
        country, _, app = target.rpartition(":")
        country = (country or "us").lower()
        if not app.isdigit():
            raise AppStoreError(f"not an App Store app id: {app!r}", source=SOURCE, url=target)
        known = cursor.get("newest")
        for page in range(1, self.max_pages + 1):
            url = self.base_url + FEED_PATH.format(country=country, page=page, app=app)
            _, data = self.http.get_json(url, stats=self.stats, source=SOURCE,
                                         error=AppStoreError, robots=False)
            self.stats.pages += 1
            feed = data.get("feed") if isinstance(data, dict) else None
            if not isinstance(feed, dict):
                raise AppStoreError("no 'feed' object in the response", source=SOURCE, url=url)
            entries = feed.get("entry") or []
            if isinstance(entries, dict):  # a single entry is not wrapped in a list
                entries = [entries]
            if not isinstance(entries, list):
                raise AppStoreError("'feed.entry' is not a list", source=SOURCE, url=url)
            # page 1 may lead with the app itself
            reviews = [e for e in entries if isinstance(e, dict) and "im:rating" in e]
            if not reviews:
                return
            fresh = False
            for mention in self.read_items(
                    reviews, lambda e: entry_mention(e, target, country, app, self.stats.notes),
                    id_of=lambda e: _label(e.get("id")), error=AppStoreError, url=url):
                if known is None or mention.created_at >= _minus(known, self.overlap_seconds):
                    fresh = True
                if not cursor.get("newest") or mention.created_at > cursor["newest"]:
                    cursor["newest"] = mention.created_at
                yield mention
            if not fresh:
                return


def entry_mention(entry: dict[str, Any], target: str, country: str, app: str,
                  notes: list[str]) -> Mention:
    """One feed ``entry`` -> Mention. Fields are ``{"label": ...}`` objects."""
    review_id = _label(entry.get("id"))
    if not review_id:
        raise ItemError("a review entry has no id", field="id")
    raw_date = _label(entry.get("updated"))
    created = parse_time(raw_date)
    if created is None:
        raise ItemError(f"review {review_id} has an unreadable date {raw_date!r:.80}",
                        field="updated")
    extra: dict[str, Any] = {"country": country, "version": _label(entry.get("im:version"))}
    try:
        rating: float | None = float(_label(entry.get("im:rating")) or "")
    except (ValueError, OverflowError):
        rating = None
    if rating is None or not 1 <= rating <= 5:
        notes.append(f"review {review_id}: rating {_label(entry.get('im:rating'))!r:.80} "
                     "out of range 1-5")
        extra["rating_problem"] = _label(entry.get("im:rating"))
        rating = None
    for key, field in (("vote_sum", "im:voteSum"), ("vote_count", "im:voteCount")):
        value = _label(entry.get(field))
        if value and value.lstrip("-").isdigit():
            extra[key] = int(value)
    author = entry.get("author") or {}
    return Mention(source=SOURCE, native_id=review_id, kind="review", target=target,
                   created_at=created,
                   url=f"https://apps.apple.com/{country}/app/id{app}?see-all=reviews",
                   author=_label(author.get("name")) or None,
                   title=_label(entry.get("title")) or None,
                   body=_label(entry.get("content")) or None, rating=rating, extra=extra)


def _label(node: Any) -> str | None:
    if isinstance(node, dict):
        value = node.get("label")
        return str(value) if value is not None else None
    return None


def _minus(stamp: str, seconds: int) -> str:
    return iso(dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) - dt.timedelta(
        seconds=seconds))
