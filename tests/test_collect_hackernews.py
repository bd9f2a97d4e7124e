"""HN Algolia collector: paging, incremental cursor with overlap, comment HTML, errors."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from collectors.hackernews import HackerNewsCollector, HackerNewsError
from collectors.http import Fetcher

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "http://hn.test"
SEARCH = f"{BASE}/api/v1/search_by_date"


def collector(**kwargs) -> HackerNewsCollector:
    http = Fetcher(requests.Session(), version="t", min_delay_seconds=0, max_retries=1,
                   respect_robots=False, sleep=lambda s: None)
    return HackerNewsCollector(http, base_url=BASE, hits_per_page=2, **kwargs)


def page(n: int) -> dict:
    return json.loads((FIXTURES / f"hackernews_search_page{n}.json").read_text())


def query_of(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


@responses.activate
def test_pages_are_read_until_nb_pages_and_cursor_keeps_the_newest():
    responses.get(SEARCH, json=page(0))
    responses.get(SEARCH, json=page(1))
    cursor: dict = {}
    mentions = list(collector().collect("larkspur", cursor))
    assert [m.id for m in mentions] == ["hackernews:901", "hackernews:900", "hackernews:800"]
    assert [m.kind for m in mentions] == ["comment", "story", "story"]
    comment = mentions[0]
    assert comment.url == "https://news.ycombinator.com/item?id=901"
    assert comment.body == "Larkspur's support is awful & slow \U0001F620\n\nSee status"
    assert comment.parent_id == "hackernews:900" and comment.author == "pat"
    assert comment.created_at == "2026-11-20T10:00:00Z"
    assert mentions[1].title == "Larkspur down" and mentions[1].extra["link"] == \
        "https://status.example"
    assert mentions[2].body == "Looking for options."
    assert cursor == {"newest_i": 1795168800}
    first, second = (query_of(c) for c in responses.calls)
    assert first == {"query": "larkspur", "tags": "(story,comment)", "hitsPerPage": "2",
                     "page": "0"}
    assert second["page"] == "1"


@responses.activate
def test_next_run_asks_only_for_newer_items_minus_the_overlap():
    responses.get(SEARCH, json={"hits": [], "nbPages": 0, "page": 0})
    assert list(collector(overlap_seconds=600).collect("larkspur",
                                                       {"newest_i": 1795168800})) == []
    assert query_of(responses.calls[0])["numericFilters"] == "created_at_i>1795168200"


@responses.activate
def test_page_cap_is_respected_and_noted():
    responses.get(SEARCH, json=page(0))
    c = collector(max_pages=1)
    assert len(list(c.collect("larkspur", {}))) == 2
    assert len(responses.calls) == 1 and "page cap" in c.stats.notes[0]


@responses.activate
def test_error_on_page_two_keeps_page_one_with_the_caller():
    responses.get(SEARCH, json=page(0))
    responses.get(SEARCH, status=502)
    got = []
    with pytest.raises(HackerNewsError, match=r"hackernews http://hn.test/api/v1/search_by_date"
                                               r"\?.*page=1: HTTP 502 after 2 tries"):
        for mention in collector().collect("larkspur", {}):
            got.append(mention.native_id)
    assert got == ["901", "900"]


@responses.activate
def test_truncated_json_is_a_clear_error():
    responses.get(SEARCH, body='{"hits": [{"objectID": "1", "created_at')
    with pytest.raises(HackerNewsError, match="malformed JSON at line 1 col 29"):
        list(collector().collect("larkspur", {}))


@responses.activate
def test_json_without_hits_is_a_clear_error():
    responses.get(SEARCH, json={"message": "Invalid query"})
    with pytest.raises(HackerNewsError, match="no 'hits' list"):
        list(collector().collect("larkspur", {}))


@responses.activate
def test_a_hit_with_an_unreadable_date_fails_clearly():
    bad = page(1)
    bad["hits"][0].pop("created_at_i")
    bad["hits"][0]["created_at"] = "yesterday-ish"
    responses.get(SEARCH, json=bad)
    with pytest.raises(HackerNewsError, match="no readable date: 'yesterday-ish'"):
        list(collector().collect("larkspur", {}))


@responses.activate
def test_item_tree_marks_deleted_comments():
    responses.get(f"{BASE}/api/v1/items/5", json={
        "id": 5, "type": "story", "author": "a", "title": "T", "text": None,
        "created_at_i": 1795165200, "children": [
            {"id": 6, "type": "comment", "author": None, "text": None,
             "created_at_i": 1795165300, "children": [
                 {"id": 7, "type": "comment", "author": "b", "text": "<p>reply</p>",
                  "created_at_i": 1795165400, "children": []}]}]})
    mentions = list(collector().collect("item:5", {}))
    assert [(m.native_id, m.kind, m.deleted) for m in mentions] == [
        ("5", "story", False), ("6", "comment", True), ("7", "comment", False)]
    assert mentions[2].parent_id == "hackernews:5" and mentions[2].body == "reply"
