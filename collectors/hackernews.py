"""Hacker News stories and comments via the Algolia HN Search API.

``search_by_date`` returns newest first; a run asks only for items newer than the
newest one seen last time, minus an overlap window (Algolia indexes with a delay), and
pages with ``page=`` up to a page cap. Target ``item:<id>`` reads one story's whole
comment tree from ``/api/v1/items/<id>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from .base import Collector, CollectorError, ItemError, Mention, parse_iso, parse_time, time_field
from .http import Fetcher, as_fetcher
from .text import html_to_text

SOURCE = "hackernews"
ITEM_URL = "https://news.ycombinator.com/item?id={}"


class HackerNewsError(CollectorError):
    """The HN Algolia API failed or answered something unexpected."""


class HackerNewsCollector(Collector):
    """Target: a search query (``"acme" OR acme cloud`` ...), or ``item:<id>``.

    Cursor: ``newest_i``, the created_at_i (epoch seconds) of the newest item seen.
    """

    source = SOURCE

    def __init__(self, http: Fetcher | requests.Session, *,
                 base_url: str = "https://hn.algolia.com", hits_per_page: int = 100,
                 max_pages: int = 10, overlap_seconds: int = 3600) -> None:
        super().__init__()
        self.http = as_fetcher(http)
        self.base_url = base_url.rstrip("/")
        self.hits_per_page = hits_per_page
        self.max_pages = max_pages
        self.overlap_seconds = overlap_seconds

    def collect(self, target: str, cursor: dict[str, Any]) -> Iterator[Mention]:
        if target.startswith("item:"):
            yield from self._item_tree(target, target.removeprefix("item:").strip())
            return
        yield from self._search(target, cursor)

    def _search(self, query: str, cursor: dict[str, Any]) -> Iterator[Mention]:
        url = f"{self.base_url}/api/v1/search_by_date"
        newest = int(cursor.get("newest_i") or 0)
        params: dict[str, Any] = {"query": query, "tags": "(story,comment)",
                                  "hitsPerPage": self.hits_per_page}
        if newest:
            params["numericFilters"] = f"created_at_i>{newest - self.overlap_seconds}"
        page, pages = 0, 1
        while page < pages and page < self.max_pages:
            _, data = self.http.get_json(url, params={**params, "page": page},
                                         stats=self.stats, source=SOURCE,
                                         error=HackerNewsError, robots=False)
            hits = _require(data, "hits", list, url)
            self.stats.pages += 1
            for mention in self.read_items(hits, lambda hit: hit_mention(hit, query),
                                           id_of=lambda hit: hit.get("objectID"),
                                           error=HackerNewsError, url=url):
                # From the stored time, not the raw field: a skipped item's 1e20 must never
                # become the cursor.
                created = int(parse_iso(mention.created_at).timestamp())
                if created > int(cursor.get("newest_i") or 0):
                    cursor["newest_i"] = created
                yield mention
            pages = data.get("nbPages")
            pages = pages if isinstance(pages, int) and not isinstance(pages, bool) else 0
            page += 1
        if page < pages:
            self.stats.notes.append(f"stopped at the page cap ({self.max_pages} pages)")

    def _item_tree(self, target: str, item_id: str) -> Iterator[Mention]:
        if not item_id.isdigit():
            raise HackerNewsError(f"not an item id: {item_id!r}", source=SOURCE, url=target)
        url = f"{self.base_url}/api/v1/items/{item_id}"
        _, data = self.http.get_json(url, stats=self.stats, source=SOURCE,
                                     error=HackerNewsError, robots=False)
        if not isinstance(data, dict) or "id" not in data:
            raise HackerNewsError("item response has no id", source=SOURCE, url=url)
        self.stats.pages += 1
        story_id = data["id"]
        stack = [data]
        while stack:  # depth-first, iterative: deep threads must not hit the recursion limit
            node = stack.pop()
            if not isinstance(node, dict):
                self.skip_item("?", ItemError(f"a comment is a {type(node).__name__}, "
                                              "not an object"))
                continue
            mention = self.read_item(lambda node=node: item_mention(node, target, story_id),
                                     node.get("id"))
            if mention is not None:
                yield mention
            children = node.get("children")
            stack.extend(reversed(children) if isinstance(children, list) else [])


def hit_mention(hit: dict[str, Any], target: str) -> Mention | None:
    """One Algolia search hit -> Mention (None for tags we do not collect, e.g. polls)."""
    tags = hit.get("_tags") or []
    kind = "story" if "story" in tags else "comment" if "comment" in tags else None
    object_id = hit.get("objectID")
    if kind is None or not object_id:
        return None
    created = _created(hit)
    story_id = hit.get("story_id")
    text = hit.get("story_text") if kind == "story" else hit.get("comment_text")
    extra = {key: hit[key] for key in ("points", "num_comments") if hit.get(key) is not None}
    if kind == "story" and hit.get("url"):
        extra["link"] = hit["url"]
    if kind == "comment":
        extra.update({k: hit[k] for k in ("story_title", "story_url") if hit.get(k)})
    return Mention(
        source=SOURCE, native_id=str(object_id), kind=kind, target=target, created_at=created,
        url=ITEM_URL.format(object_id), author=hit.get("author") or None,
        title=(hit.get("title") or None) if kind == "story" else None,
        body=html_to_text(text) or None,
        parent_id=f"{SOURCE}:{story_id}" if kind == "comment" and story_id else None,
        extra=extra,
    )


def item_mention(node: dict[str, Any], target: str, story_id: int) -> Mention:
    """One node of an ``/items/<id>`` tree -> Mention; a deleted comment has no author/text."""
    kind = "story" if node.get("type") == "story" else "comment"
    deleted = node.get("author") is None and node.get("text") is None and kind == "comment"
    extra = {"points": node["points"]} if node.get("points") is not None else {}
    if node.get("url"):
        extra["link"] = node["url"]
    return Mention(
        source=SOURCE, native_id=str(node["id"]), kind=kind, target=target,
        created_at=_created(node), url=ITEM_URL.format(node["id"]),
        author=node.get("author") or None, title=node.get("title") or None,
        body=html_to_text(node.get("text")) or None, deleted=deleted,
        parent_id=f"{SOURCE}:{story_id}" if kind == "comment" else None, extra=extra,
    )


def _created(data: dict[str, Any]) -> str:
    if data.get("created_at_i") is not None:
        return time_field(data["created_at_i"], "created_at_i")
    found = parse_time(data.get("created_at"))
    if found is None:
        raise ItemError(f"no readable date: {data.get('created_at')!r:.80}", field="created_at")
    return found


def _require(data: Any, key: str, kind: type, url: str) -> Any:
    if not isinstance(data, dict) or not isinstance(data.get(key), kind):
        raise HackerNewsError(f"unexpected response: no {key!r} list", source=SOURCE, url=url)
    return data[key]
