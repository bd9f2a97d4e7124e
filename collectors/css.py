"""Review sites described by CSS selectors (config: review block, text, rating, date,
author, title, next-page link). A selector may end in ``@attr`` to read an attribute."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlparse

import requests
from bs4 import BeautifulSoup, Tag

from .base import ITEM_ERRORS, Collector, Mention, iso
from .http import Fetcher, as_fetcher
from .schemaorg import ReviewError
from .text import html_to_text, parse_date_loose, stable_id

SOURCE = "css"
# A sign is read so that "-3" is refused as a rating rather than stored as 3.
_NUMBER = re.compile(r"[-\u2212]?\d+(?:[.,]\d+)?")
_OUT_OF = re.compile(r"([-\u2212]?\d+(?:[.,]\d+)?)\s*(?:out of|/|of)\s*(\d+(?:[.,]\d+)?)", re.I)


class CssError(ReviewError):
    """A CSS-described review page could not be read."""


@dataclass(frozen=True)
class Selectors:
    review: str
    text: str
    rating: str = ""
    date: str = ""
    author: str = ""
    title: str = ""
    next: str = ""
    id_attr: str = "id"  # attribute of the review block holding a stable id, if any


class CssCollector(Collector):
    """Target: the first page URL. Follows ``next`` up to ``max_pages``."""

    source = SOURCE

    def __init__(self, http: Fetcher | requests.Session, selectors: Selectors, *,
                 max_pages: int = 10) -> None:
        super().__init__()
        self.http = as_fetcher(http)
        self.selectors = selectors
        self.max_pages = max_pages

    def collect(self, target: str, cursor: dict[str, Any]) -> Iterator[Mention]:
        url: str | None = target
        seen_pages: set[str] = set()
        while url and len(seen_pages) < self.max_pages:
            if url in seen_pages:
                self.stats.notes.append(f"next-page link loops back to {url}")
                return
            seen_pages.add(url)
            response = self.http.get(url, stats=self.stats, source=SOURCE, error=CssError)
            if response is None:
                return
            self.stats.pages += 1
            mentions, url = parse_css_page(response.text, response.url or url, target,
                                           self.selectors, self.stats.notes,
                                           self.stats.skipped)
            if url and urlparse(url).netloc != urlparse(target).netloc:
                # Only configured hosts are fetched: a page cannot send us elsewhere.
                self.stats.notes.append(f"next-page link leaves {urlparse(target).netloc}: "
                                        f"not followed ({url})")
                url = None
            if not mentions and len(seen_pages) == 1:
                raise CssError(f"no review blocks match {self.selectors.review!r}",
                               source=SOURCE, url=target)
            yield from mentions
        if url:
            self.stats.notes.append(f"stopped at the page cap ({self.max_pages} pages)")


def parse_css_page(page: str, page_url: str, target: str, selectors: Selectors,
                   notes: list[str], skipped: list[str] | None = None,
                   ) -> tuple[list[Mention], str | None]:
    """Page HTML -> (Mentions, absolute URL of the next page or None)."""
    soup = BeautifulSoup(page, "html.parser")
    collected_at = iso(dt.datetime.now(dt.UTC))
    mentions = []
    for number, block in enumerate(soup.select(selectors.review), 1):
        try:
            mentions.append(_block_mention(block, page_url, target, selectors, collected_at,
                                           notes))
        except ITEM_ERRORS as exc:  # one odd block must not cost the page
            skipped = skipped if skipped is not None else notes
            skipped.append(f"item 'review block {number}': {type(exc).__name__}: "
                           f"{str(exc)[:200]}: skipped")
    next_url = None
    if selectors.next:
        link = _pick(soup, selectors.next if "@" in selectors.next else selectors.next + "@href")
        next_url = urljoin(page_url, link) if link else None
    return mentions, next_url


def _block_mention(block: Tag, page_url: str, target: str, selectors: Selectors,
                   collected_at: str, notes: list[str]) -> Mention:
    body = _pick(block, selectors.text)
    author = _pick(block, selectors.author)
    raw_date = _pick(block, selectors.date)
    created = parse_date_loose(raw_date) if raw_date else None
    native_id = block.get(selectors.id_attr) if selectors.id_attr else None
    native_id = str(native_id) if native_id else stable_id(page_url, author, raw_date, body)
    extra: dict[str, Any] = {}
    if created is None:
        extra["date_unparsed" if raw_date else "date_missing"] = raw_date or True
        if raw_date:
            notes.append(f"review {native_id}: unreadable date {raw_date!r}")
    rating = None
    raw_rating = _pick(block, selectors.rating)
    if raw_rating:
        rating = parse_stars(raw_rating)
        if rating is None:
            notes.append(f"review {native_id}: rating {raw_rating!r} not on a 0-5 scale")
            extra["rating_problem"] = raw_rating
    return Mention(source=SOURCE, native_id=native_id, kind="review", target=target,
                   created_at=created or collected_at, url=page_url, author=author,
                   title=_pick(block, selectors.title), body=body, rating=rating,
                   extra=extra)


def parse_stars(text: str) -> float | None:
    """"4.0 out of 5 stars", "8/10", "4" -> stars on 0-5; None when it cannot be one."""
    match = _OUT_OF.search(text)
    if match:
        value, best = (float(g.replace(",", ".").replace("\u2212", "-")) for g in match.groups())
        # "3 out of 999...9" (inf) is no scale: not 0 stars
        return round(value * 5 / best, 2) if 0 < best < math.inf and 0 <= value <= best \
            else None
    match = _NUMBER.search(text)
    if not match:
        return None
    value = float(match.group(0).replace(",", ".").replace("\u2212", "-"))
    return value if 0 <= value <= 5 else None


def _pick(root: Tag, selector: str) -> str | None:
    if not selector:
        return None
    css, _, attr = selector.partition("@")
    node = root.select_one(css.strip()) if css.strip() else root
    if node is None:
        return None
    if attr:
        value = node.get(attr.strip())
        return str(value).strip() or None if value is not None else None
    return html_to_text(node.decode_contents()) or None
