"""Trustpilot company pages: the reviews sit as JSON in ``<script id="__NEXT_DATA__">``
(``props.pageProps.reviews``), newest first, 20 a page, more pages at ``?page=N``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from bs4 import BeautifulSoup

from .base import Collector, ItemError, Mention, _short, iso, parse_time
from .http import Fetcher, as_fetcher, loads
from .schemaorg import ReviewError
from .text import html_to_text

SOURCE = "trustpilot"
REVIEW_URL = "https://www.trustpilot.com/reviews/{}"


class TrustpilotError(ReviewError):
    """A Trustpilot page could not be read."""


class TrustpilotCollector(Collector):
    """Target: the company page URL. Cursor: ``newest`` (publishedDate seen last run).

    Paging stops at ``max_pages``, at the last page, or at the first page whose reviews
    are all older than the cursor minus ``overlap_seconds``.
    """

    source = SOURCE

    def __init__(self, http: Fetcher | requests.Session, *, max_pages: int = 10,
                 overlap_seconds: int = 86400) -> None:
        super().__init__()
        self.http = as_fetcher(http)
        self.max_pages = max_pages
        self.overlap_seconds = overlap_seconds

    def collect(self, target: str, cursor: dict[str, Any]) -> Iterator[Mention]:
        known = cursor.get("newest")
        since = _shift(known, -self.overlap_seconds) if known else None
        for page in range(1, self.max_pages + 1):
            url = page_url(target, page)
            response = self.http.get(url, stats=self.stats, source=SOURCE,
                                     error=TrustpilotError)
            if response is None:
                return
            self.stats.pages += 1
            props = next_data_page_props(response.text, url)
            reviews = props.get("reviews")
            if not isinstance(reviews, list):
                raise TrustpilotError("__NEXT_DATA__ has no props.pageProps.reviews list",
                                      source=SOURCE, url=url)
            if not reviews:
                if page == 1:
                    self.stats.notes.append("the company page has no reviews")
                return
            fresh = 0
            for mention in self.read_items(
                    reviews, lambda review: review_mention(review, target, self.stats.notes),
                    id_of=lambda review: review.get("id"), error=TrustpilotError, url=url):
                if since is None or mention.created_at >= since:
                    fresh += 1
                if not cursor.get("newest") or mention.created_at > cursor["newest"]:
                    cursor["newest"] = mention.created_at
                yield mention
            total = _total_pages(props)
            if fresh == 0 or (total is not None and page >= total):
                return
        self.stats.notes.append(f"stopped at the page cap ({self.max_pages} pages)")


def page_url(company_url: str, page: int) -> str:
    if page == 1:
        return company_url
    parts = urlsplit(company_url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({"page": page})))


def next_data_page_props(page: str, url: str) -> dict[str, Any]:
    """The ``props.pageProps`` object of a Next.js page; a clear error when it is missing."""
    script = BeautifulSoup(page, "html.parser").find("script", id="__NEXT_DATA__")
    if script is None:
        raise TrustpilotError("no __NEXT_DATA__ script on the page (layout changed, or a "
                              "block page?)", source=SOURCE, url=url)
    try:
        data = loads(script.string or script.get_text())
    except json.JSONDecodeError as exc:
        raise TrustpilotError(f"malformed __NEXT_DATA__ JSON at line {exc.lineno} col "
                              f"{exc.colno}", source=SOURCE, url=url) from exc
    props = data.get("props", {}).get("pageProps") if isinstance(data, dict) else None
    if not isinstance(props, dict):
        raise TrustpilotError("__NEXT_DATA__ has no props.pageProps", source=SOURCE, url=url)
    return props


def review_mention(review: dict[str, Any], target: str, notes: list[str]) -> Mention:
    """One review object of ``pageProps.reviews`` -> Mention."""
    review_id = review.get("id")
    if not isinstance(review_id, str | int) or isinstance(review_id, bool) or not review_id:
        raise ItemError("a review has no id", field="id")
    review_id = str(review_id)
    dates = review.get("dates") or {}
    created = parse_time(dates.get("publishedDate")) or parse_time(review.get("createdAt"))
    if created is None:
        raise ItemError(f"review {review_id} has no readable publishedDate: "
                        f"{dates.get('publishedDate')!r:.80}", field="dates.publishedDate")
    rating = review.get("rating")
    extra: dict[str, Any] = {}
    if not isinstance(rating, int | float) or isinstance(rating, bool) or not 1 <= rating <= 5:
        notes.append(f"review {review_id}: rating {_short(rating)} out of range 1-5")
        extra["rating_problem"] = _short(rating)
        rating = None
    consumer = review.get("consumer") or {}
    verification = (review.get("labels") or {}).get("verification") or {}
    reply = review.get("reply") or {}
    extra.update({
        "verified": bool(verification.get("isVerified")),
        "country": consumer.get("countryCode"),
        "likes": review.get("likes"),
        "experienced": parse_time(dates.get("experiencedDate")),
        "updated": parse_time(dates.get("updatedDate")),
        "reply": html_to_text(reply.get("message")) if isinstance(reply, dict) else None,
    })
    return Mention(source=SOURCE, native_id=review_id, kind="review", target=target,
                   created_at=created, url=REVIEW_URL.format(review_id),
                   author=consumer.get("displayName") or None,
                   title=html_to_text(review.get("title")) or None,
                   body=html_to_text(review.get("text")) or None,
                   rating=float(rating) if rating is not None else None,
                   lang=review.get("language") or None, extra=extra)


def _total_pages(props: dict[str, Any]) -> int | None:
    pagination = (props.get("filters") or {}).get("pagination") or {}
    total = pagination.get("totalPages")
    return total if isinstance(total, int) else None


def _shift(stamp: str, seconds: int) -> str:
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return iso(moment + dt.timedelta(seconds=seconds))
