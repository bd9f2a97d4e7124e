"""schema.org Review markup on any page: JSON-LD (``@graph``, arrays, reviews nested in a
Product/Recipe/Book) and microdata (``itemprop``), both read into one normaliser."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import requests
from bs4 import BeautifulSoup, Tag

from .base import ITEM_ERRORS, Collector, CollectorError, Mention, iso
from .http import Fetcher, as_fetcher, loads
from .text import html_to_text, parse_date_loose, stable_id

SOURCE = "schemaorg"
REVIEW_TYPES = {"Review", "CriticReview", "UserReview", "EmployerReview", "ClaimReview"}
_NUMBER = re.compile(r"[-\u2212]?\d+(?:[.,]\d+)?")
# A rating that states its own scale: "5 out of 10", "8/10".
_OUT_OF = re.compile(r"([-\u2212]?\d+(?:[.,]\d+)?)\s*(?:out of|/|of)\s*(\d+(?:[.,]\d+)?)", re.I)


class ReviewError(CollectorError):
    """A review page or review API could not be read."""


class SchemaOrgCollector(Collector):
    """Target: a page URL. No cursor state: ids are stable, the store dedupes."""

    source = SOURCE

    def __init__(self, http: Fetcher | requests.Session) -> None:
        super().__init__()
        self.http = as_fetcher(http)

    def collect(self, target: str, cursor: dict[str, Any]) -> Iterator[Mention]:
        response = self.http.get(target, stats=self.stats, source=SOURCE, error=ReviewError)
        if response is None:
            return
        self.stats.pages += 1
        mentions, notes, skipped = parse_schemaorg(response.text, target)
        self.stats.notes.extend(notes)
        self.stats.skipped.extend(skipped)
        if not mentions:
            raise ReviewError(f"none of the {len(skipped)} reviews is readable: {skipped[0]}"
                              if skipped else "no schema.org Review markup found (JSON-LD or "
                              "microdata)", source=SOURCE, url=target)
        yield from mentions


def parse_schemaorg(page: str, page_url: str) -> tuple[list[Mention], list[str], list[str]]:
    """Page HTML -> (Mentions, notes about what was odd, reviews skipped and why)."""
    soup = BeautifulSoup(page, "html.parser")
    notes: list[str] = []
    found: list[dict[str, Any]] = []
    for number, script in enumerate(soup.find_all("script", type="application/ld+json"), 1):
        raw = (script.string or script.get_text() or "").strip()
        raw = raw.removeprefix("<!--").removesuffix("-->").strip()
        if not raw:
            continue
        try:
            data = loads(raw)
        except json.JSONDecodeError as exc:
            notes.append(f"JSON-LD block {number}: malformed JSON at line {exc.lineno} "
                         f"col {exc.colno}: skipped")
            continue
        found.extend(_jsonld_reviews(data))
    microdata = [_microdata_item(element)
                 for element in soup.find_all(itemtype=_is_review_type, itemscope=True)]
    collected_at = iso(dt.datetime.now(dt.UTC))
    mentions: list[Mention] = []
    from_jsonld: set[str] = set()
    skipped: list[str] = []
    for reviews, is_jsonld in ((found, True), (microdata, False)):
        repeats: Counter[str] = Counter()
        for number, review in enumerate(reviews, 1):
            try:
                mention = review_mention(review, page_url, collected_at, notes)
            except ITEM_ERRORS as exc:
                kind = "JSON-LD" if is_jsonld else "microdata"
                skipped.append(f"{kind} review {number}: {type(exc).__name__}: "
                               f"{str(exc)[:200]}: skipped")
                continue
            # The same review posted twice is two reviews: the second gets "-2", stably.
            repeats[mention.native_id] += 1
            if repeats[mention.native_id] > 1:
                mention.native_id = f"{mention.native_id}-{repeats[mention.native_id]}"
            if is_jsonld:
                from_jsonld.add(mention.native_id)
            elif mention.native_id in from_jsonld:
                continue  # the same review marked up twice, as JSON-LD and as microdata
            mentions.append(mention)
    return mentions, notes, skipped


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type") or node.get("type") or []
    kinds = kind if isinstance(kind, list) else [kind]
    return {str(k).rsplit("/", 1)[-1] for k in kinds}


def _jsonld_reviews(data: Any) -> Iterator[dict[str, Any]]:
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, dict):
            if _types(node) & REVIEW_TYPES:
                yield node  # a review's own children (author, rating) are not reviews
            else:
                stack.extend(reversed(list(node.values())))


def _is_review_type(value: str | None) -> bool:
    return bool(value) and value.rstrip("/").rsplit("/", 1)[-1] in REVIEW_TYPES


def _microdata_item(element: Tag) -> dict[str, Any]:
    """One itemscope element -> a dict shaped like JSON-LD (nested items recursively)."""
    item: dict[str, Any] = {"@type": (element.get("itemtype") or "").rsplit("/", 1)[-1]}
    if element.get("itemid"):
        item["@id"] = element["itemid"]
    for prop in element.find_all(itemprop=True):
        owner = prop.find_parent(itemscope=True)
        if owner is not element:
            continue  # belongs to a nested item
        value = _microdata_item(prop) if prop.has_attr("itemscope") else _microdata_value(prop)
        for name in str(prop["itemprop"]).split():
            item.setdefault(name, value)
    return item


def _microdata_value(prop: Tag) -> str:
    attr = {"meta": "content", "time": "datetime", "a": "href", "link": "href",
            "img": "src", "data": "value", "meter": "value"}.get(prop.name, "content")
    if prop.get(attr) is not None:
        return str(prop[attr])
    return prop.get_text(" ", strip=True)


def review_mention(review: dict[str, Any], page_url: str, collected_at: str,
                   notes: list[str]) -> Mention:
    author = _name(review.get("author"))
    raw_date = review.get("datePublished") or review.get("dateCreated")
    created = parse_date_loose(raw_date) if raw_date else None
    body = html_to_text(_text(review.get("reviewBody") or review.get("description")))
    title = html_to_text(_text(review.get("name") or review.get("headline")))
    rating, problem = normalise_rating(review.get("reviewRating"))
    native = review.get("@id") or review.get("url")
    native_id = str(native) if native else stable_id(page_url, author, str(raw_date), body)
    extra: dict[str, Any] = {}
    if problem:
        notes.append(f"review {native_id}: {problem}")
        extra["rating_problem"] = problem
    if not raw_date:
        extra["date_missing"] = True  # created_at is when we saw it
    elif created is None:
        notes.append(f"review {native_id}: unreadable date {raw_date!r}")
        extra["date_unparsed"] = str(raw_date)
    return Mention(source=SOURCE, native_id=native_id, kind="review", target=page_url,
                   created_at=created or collected_at, url=page_url, author=author,
                   title=title or None, body=body or None, rating=rating,
                   lang=review.get("inLanguage") if isinstance(review.get("inLanguage"), str)
                   else None, extra=extra)


def normalise_rating(rating: Any) -> tuple[float | None, str | None]:
    """reviewRating (object, bare number or string) -> (stars on 0-5, problem or None)."""
    if rating is None:
        return None, None
    if isinstance(rating, list):
        rating = rating[0] if rating else None
    if isinstance(rating, dict):
        value = _number(rating.get("ratingValue"))
        best = _number(rating.get("bestRating")) or _scale(rating.get("ratingValue")) or 5.0
        worst = _number(rating.get("worstRating"))
        worst = 1.0 if worst is None and best == 5 else (worst or 0.0)
    else:
        value, best, worst = _number(rating), _scale(rating) or 5.0, 0.0
    if value is None:
        return None, f"no readable rating value in {rating!r}"
    if best <= 0 or not worst <= value <= best:
        return None, f"rating {value:g} out of range {worst:g}-{best:g}"
    return round(value * 5.0 / best, 2), None


def _scale(value: Any) -> float | None:
    """The best rating a string states itself ("5 out of 10" -> 10), if it does."""
    match = _OUT_OF.search(value) if isinstance(value, str) else None
    return float(match.group(2).replace(",", ".")) if match else None


def _number(value: Any) -> float | None:
    """A finite number, or None: 10**400 or "1e999" is no rating."""
    found: float | None = None
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            found = float(value)
        elif isinstance(value, str):
            match = _NUMBER.search(value)
            if match:
                found = float(match.group(0).replace(",", ".").replace("\u2212", "-"))
    except OverflowError:
        return None
    return found if found is not None and math.isfinite(found) else None


def _name(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name") or value.get("alternateName")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value if v)
    return value if isinstance(value, str) else None
