"""Google Play reviews through the Play web app's own ``batchexecute`` endpoint.

Play has no public reviews API for other people's apps (the Play Developer API only
answers an app's own publisher). The Play website loads reviews with a POST to
``/_/PlayStoreUi/data/batchexecute`` calling the RPC ``oCPfdb``; the maintained
google-play-scraper library (JoMingyu, MIT) documents the request and the element
paths. This is our own implementation of that wire format on the shared polite
``Fetcher``. The endpoint is undocumented: when Google changes it, this collector fails
with an error that says what it expected, it never guesses.

Wire format (as of google-play-scraper 1.2.7, 2024):

* request: form field ``f.req`` = ``[[["oCPfdb", <args as a JSON string>, null,
  "generic"]]]`` with args ``[null, [2, <sort>, [<count>] or [<count>, null, <token>],
  null, [null, <score filter>, null x6, <device filter>]], [<app id>, 7]]``;
* response: ``)]}'`` then a JSON array of rows; the row ``["wrb.fr", "oCPfdb", <JSON
  string>, ...]`` carries ``[<reviews>, [null, <next page token>], ...]``;
* one review: ``[0]`` id, ``[1][0]`` user name, ``[2]`` stars, ``[4]`` text,
  ``[5][0]`` epoch seconds, ``[6]`` thumbs up, ``[7]`` = ``[<replier>, <reply text>,
  [<epoch seconds>]]`` or null, ``[10]`` app version.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import requests

from .base import Collector, CollectorError, ItemError, Mention, _short, iso, parse_time, time_field
from .http import Fetcher, _body_hint, as_fetcher, decode_json, loads

SOURCE = "googleplay"
RPC_ID = "oCPfdb"
BATCH_PATH = "/_/PlayStoreUi/data/batchexecute"
GUARD = ")]}'"  # anti-XSSI prefix Google puts before every batchexecute answer
SORT_NEWEST = 2
MAX_PAGE_SIZE = 4500  # the most Play hands out in one answer (google-play-scraper's cap)
APP_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")  # Android package name


class GooglePlayError(CollectorError):
    """Google Play's reviews endpoint failed or answered something we cannot read."""


class GooglePlayCollector(Collector):
    """Target: ``<lang>-<country>:<app id>`` (``en-us:com.whatsapp``) or just the app id.

    Newest first, ``page_size`` reviews a request, at most ``max_pages`` requests a
    target. Cursor: ``newest`` (the newest review time seen); paging stops at the first
    page that reaches back past ``newest`` minus ``overlap_seconds``, and reviews older
    than that are not yielded again.
    """

    source = SOURCE

    def __init__(self, http: Fetcher | requests.Session, *,
                 base_url: str = "https://play.google.com", max_pages: int = 10,
                 page_size: int = 100, overlap_seconds: int = 86400) -> None:
        super().__init__()
        self.http = as_fetcher(http)
        self.base_url = base_url.rstrip("/")
        self.max_pages = max_pages
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self.overlap_seconds = overlap_seconds

    def collect(self, target: str, cursor: dict[str, Any]) -> Iterator[Mention]:
        lang, country, app = parse_target(target)
        url = self.base_url + BATCH_PATH
        params = {"rpcids": RPC_ID, "hl": lang, "gl": country}
        full_url = f"{url}?{urlencode(params)}"
        known = cursor.get("newest")
        since = _minus(known, self.overlap_seconds) if known else None
        token: str | None = None
        for page in range(1, self.max_pages + 1):
            response = self.http.post(url, params=params, data=request_body(
                app, self.page_size, token), stats=self.stats, source=SOURCE,
                error=GooglePlayError, robots=False)
            if response is None:  # robots.txt said no (never with robots=False)
                return
            self.stats.pages += 1
            reviews, next_token = parse_response(response, full_url, app_url(app, lang, country))
            if not reviews:
                if page == 1:
                    raise GooglePlayError(
                        f"no reviews for app {app!r} in {lang}-{country}: check the app id "
                        f"at {app_url(app, lang, country)}", source=SOURCE, url=full_url)
                return
            reached_known = False
            numbered = list(enumerate(reviews, 1))
            read = self.read_items(
                numbered, lambda pair, page=page: review_mention(
                    pair[1], target, app, lang, country, self.stats.notes,
                    where=f"page {page} review {pair[0]}", url=full_url),
                id_of=lambda pair, page=page: _at(pair[1], 0) or f"page {page} review {pair[0]}",
                error=GooglePlayError, url=full_url)
            for mention in read:
                if since is not None and mention.created_at < since:
                    reached_known = True  # newest first: the rest is older still
                    break
                if not cursor.get("newest") or mention.created_at > cursor["newest"]:
                    cursor["newest"] = mention.created_at
                yield mention
            if reached_known or not next_token:
                return
            if next_token == token:
                self.stats.notes.append(f"page {page}: Play repeated the page token: stopped")
                return
            token = next_token
        self.stats.notes.append(f"stopped at the page cap ({self.max_pages} pages of "
                                f"{self.page_size})")


def parse_target(target: str) -> tuple[str, str, str]:
    """``en-us:com.whatsapp`` -> ("en", "us", "com.whatsapp"); a bare app id means en-us."""
    locale, _, app = target.strip().rpartition(":")
    lang, _, country = locale.rpartition("-") if "-" in locale else (locale, "", "")
    if not APP_ID.match(app):
        raise GooglePlayError(f"not a Google Play app id (an Android package name such as "
                              f"com.whatsapp): {app!r}", source=SOURCE, url=target)
    return (lang or "en"), (country or "us").lower(), app


def app_url(app: str, lang: str, country: str, review_id: str | None = None) -> str:
    """The app's public Play page (with ``reviewId`` it opens that review)."""
    query = {"id": app, "hl": lang, "gl": country}
    if review_id:
        query["reviewId"] = review_id
    return "https://play.google.com/store/apps/details?" + urlencode(query)


def request_body(app: str, count: int, token: str | None) -> dict[str, str]:
    """The ``f.req`` form field asking for ``count`` newest reviews (after ``token``)."""
    size: list[Any] = [count, None, token] if token else [count]
    no_filter = [None] * 9  # [1] is a star filter, [8] a device filter: both off
    args = [None, [2, SORT_NEWEST, size, None, no_filter], [app, 7]]
    compact = {"separators": (",", ":")}  # what the Play web app itself sends
    envelope = [[[RPC_ID, json.dumps(args, **compact), None, "generic"]]]
    return {"f.req": json.dumps(envelope, **compact)}


def parse_response(response: requests.Response, url: str,
                   page: str) -> tuple[list[Any], str | None]:
    """A batchexecute answer -> (raw review arrays, next page token or None).

    ``page`` is the app's Play page, named in errors so a user can check the app id.
    """
    try:
        text = response.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GooglePlayError(f"response is not UTF-8 text: {exc.reason}", source=SOURCE,
                              url=url) from exc
    if "PlayGatewayError" in text:
        # What Play answers (with HTTP 200) when it throttles a client.
        raise GooglePlayError("Play answered PlayGatewayError (it throttles this way): "
                              "giving up until the next run", source=SOURCE, url=url,
                              status=response.status_code, rate_limited=True)
    if not text.startswith(GUARD):
        raise GooglePlayError(f"not a batchexecute answer (no {GUARD} prefix; a consent or "
                              f"captcha page?){_body_hint(response)}", source=SOURCE, url=url)
    rows = decode_json(text[len(GUARD):], source=SOURCE, url=url, error=GooglePlayError)
    if not isinstance(rows, list):
        raise GooglePlayError("batchexecute answer is not a JSON array", source=SOURCE, url=url)
    row = next((r for r in rows if isinstance(r, list) and len(r) > 2
                and r[0] == "wrb.fr" and r[1] == RPC_ID), None)
    if row is None:
        failed = next((r for r in rows if isinstance(r, list) and r and r[0] == "er"), None)
        detail = f" (error row {json.dumps(failed)[:120]})" if failed else ""
        raise GooglePlayError(f"no wrb.fr row for rpc {RPC_ID} in the answer{detail}: the "
                              "endpoint may have changed", source=SOURCE, url=url)
    if row[2] is None:
        # An error envelope: the payload is null and a status code follows, e.g. [5].
        code = row[5] if len(row) > 5 else None
        raise GooglePlayError(f"Play answered an error envelope (status {json.dumps(code)}) "
                              f"instead of reviews: does the app exist? {page}",
                              source=SOURCE, url=url)
    if not isinstance(row[2], str):
        raise GooglePlayError(f"wrb.fr payload is a {type(row[2]).__name__}, not a JSON "
                              "string", source=SOURCE, url=url)
    try:
        inner = loads(row[2])
    except json.JSONDecodeError as exc:
        raise GooglePlayError(f"malformed wrb.fr payload at char {exc.pos}: {exc.msg}",
                              source=SOURCE, url=url) from exc
    if not isinstance(inner, list) or not inner:
        return [], None
    reviews = inner[0] if isinstance(inner[0], list) else []
    return reviews, _token(inner)


def _token(inner: list[Any]) -> str | None:
    # [reviews, [null, "<token>"], ...] while more pages exist; the slot is absent or
    # null on the last page (google-play-scraper reads it as [-2][-1]).
    if len(inner) > 1 and isinstance(inner[1], list) and inner[1]:
        last = inner[1][-1]
        if isinstance(last, str) and last:
            return last
    return None


def review_mention(raw: Any, target: str, app: str, lang: str, country: str,
                   notes: list[str], *, where: str, url: str) -> Mention:
    """One raw review array -> Mention. A bad star count is kept as a note, not dropped."""
    review_id = _at(raw, 0)
    if not isinstance(review_id, str) or not review_id:
        raise ItemError(f"{where} has no review id: the answer's layout may have changed",
                        field="[0]")
    seconds = _at(raw, 5, 0)
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
        raise ItemError(f"review {review_id} has no readable time at [5][0]: "
                        f"{seconds!r:.80}", field="[5][0]")
    created = time_field(seconds, "[5][0]")
    extra: dict[str, Any] = {"hl": lang, "gl": country}
    score = _at(raw, 2)
    rating: float | None = None
    if isinstance(score, int | float) and not isinstance(score, bool) and 1 <= score <= 5:
        rating = float(score)
    else:
        notes.append(f"review {review_id}: score {_short(score)} out of range 1-5")
        extra["rating_problem"] = _short(score)
    thumbs = _at(raw, 6)
    if isinstance(thumbs, int) and not isinstance(thumbs, bool):
        extra["thumbs_up"] = thumbs
    if isinstance(_at(raw, 10), str):
        extra["app_version"] = _at(raw, 10)
    reply = _at(raw, 7, 1)
    if isinstance(reply, str) and reply:
        extra["reply"] = reply
        replied = parse_time(_at(raw, 7, 2, 0))
        if replied:
            extra["replied_at"] = replied
        if isinstance(_at(raw, 7, 0), str):
            extra["reply_author"] = _at(raw, 7, 0)
    author = _at(raw, 1, 0)
    body = _at(raw, 4)
    return Mention(source=SOURCE, native_id=review_id, kind="review", target=target,
                   created_at=created, url=app_url(app, lang, country, review_id),
                   author=author if isinstance(author, str) and author else None,
                   # Plain text as typed: Play does not mark it up, so "<b>" is literal.
                   body=body if isinstance(body, str) and body else None,
                   rating=rating, extra=extra)


def _at(node: Any, *path: int) -> Any:
    """``node[a][b]...`` or None where the path runs off the arrays."""
    for index in path:
        if not isinstance(node, list) or index >= len(node):
            return None
        node = node[index]
    return node


def _minus(stamp: str, seconds: int) -> str:
    return iso(dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
               - dt.timedelta(seconds=seconds))
