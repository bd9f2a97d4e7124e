"""Feed collector: Google Alerts unwrapping, conditional GET, dead feeds and non-feeds."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import responses

from collectors.feeds import FeedCollector, FeedError, unwrap_redirect
from collectors.http import Fetcher

FIXTURES = Path(__file__).parent / "fixtures"
FEED_URL = "https://www.google.com/alerts/feeds/1/2"


def collector() -> FeedCollector:
    return FeedCollector(Fetcher(requests.Session(), version="t", min_delay_seconds=0,
                                 respect_robots=False, sleep=lambda s: None))


@responses.activate
def test_google_alerts_entries_are_unwrapped_and_cleaned():
    responses.get(FEED_URL, body=(FIXTURES / "feed_alerts.xml").read_bytes(),
                  content_type="application/atom+xml", headers={"ETag": '"abc"'})
    cursor: dict = {}
    mentions = list(collector().collect(FEED_URL, cursor))
    assert [m.id for m in mentions] == ["feed:tag:google.com,2013:googlealerts/feed:111",
                                        "feed:tag:google.com,2013:googlealerts/feed:222"]
    first, second = mentions
    assert first.url == "https://news.example/larkspur-outage?a=1"
    assert first.title == "Larkspur outage angers users \U0001F621"
    assert first.body == "Customers say Larkspur was down all day & support was silent ..."
    assert first.created_at == "2026-11-20T09:30:00Z"
    assert first.author is None and first.kind == "article" and first.target == FEED_URL
    assert second.url == "https://blog.example/larkspur-2"
    assert second.created_at == "2026-11-20T08:00:00Z" and second.author == "Jo Blogger"
    assert cursor == {"etag": '"abc"'}


@responses.activate
def test_rss_guid_pubdate_offset_and_missing_date():
    responses.get("https://acme.example/rss", body=(FIXTURES / "feed_rss.xml").read_bytes())
    c = collector()
    mentions = list(c.collect("https://acme.example/rss", {}))
    assert [m.native_id for m in mentions] == ["tag:acme.example,2026:1", "https://acme.example/nodate"]
    assert mentions[0].created_at == "2026-11-19T11:00:00Z"  # +0100 -> UTC
    assert mentions[0].body == "It ships."
    assert mentions[1].extra == {"date_missing": True}


@responses.activate
def test_304_not_modified_yields_nothing_and_keeps_the_cursor():
    responses.get(FEED_URL, status=304)
    cursor = {"etag": '"abc"', "last_modified": "Fri, 20 Nov 2026 10:00:00 GMT"}
    c = collector()
    assert list(c.collect(FEED_URL, cursor)) == []
    assert responses.calls[0].request.headers["If-None-Match"] == '"abc"'
    assert cursor["etag"] == '"abc"'
    assert "304" in c.stats.notes[0]


@responses.activate
def test_a_gone_feed_is_a_feed_error_naming_the_url():
    responses.get(FEED_URL, status=410, body="Gone")
    with pytest.raises(FeedError, match=r"feed https://www.google.com/alerts/feeds/1/2: HTTP 410"):
        list(collector().collect(FEED_URL, {}))


@responses.activate
def test_an_html_page_is_not_a_feed():
    responses.get(FEED_URL, body="<html><body><p>Sign in</p></body></html>",
                  content_type="text/html; charset=utf-8")
    with pytest.raises(FeedError, match=r"not a feed \(text/html"):
        list(collector().collect(FEED_URL, {}))


@responses.activate
def test_a_truncated_feed_still_yields_what_parsed_or_fails_clearly():
    whole = (FIXTURES / "feed_alerts.xml").read_bytes()
    responses.get(FEED_URL, body=whole[: whole.index(b"<entry>", 400)])
    mentions = list(collector().collect(FEED_URL, {}))
    assert [m.native_id for m in mentions] == ["tag:google.com,2013:googlealerts/feed:111"]


def test_unwrap_redirect_leaves_other_links_alone():
    assert unwrap_redirect("https://example.com/url?url=https://x.example") == \
        "https://example.com/url?url=https://x.example"
    assert unwrap_redirect("https://www.google.com/url?q=https://x.example/a&sa=U") == \
        "https://x.example/a"


def rss(*items: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            + "".join(items) + "</channel></rss>").encode()


@responses.activate
def test_character_references_no_text_can_hold_become_u_fffd_not_a_failed_feed():
    # feedparser itself raised on these, for the whole feed (UnicodeEncodeError, ValueError)
    responses.get(FEED_URL, body=rss(
        "<item><guid>tag:x,1:a</guid><title>Larkspur &#xD83D; cut</title></item>",
        "<item><guid>tag:x,1:b</guid><title>Larkspur &#x110000; &#99999999999; &#0;</title>"
        "</item>",
        "<item><guid>tag:x,1:c</guid><title>Larkspur &#x1F621; &#233;</title></item>"),
        content_type="application/rss+xml")
    titles = [m.title for m in collector().collect(FEED_URL, {})]
    assert titles == ["Larkspur \ufffd cut", "Larkspur \ufffd \ufffd \ufffd",
                      "Larkspur \U0001F621 \u00e9"]


@responses.activate
def test_a_date_no_datetime_holds_dates_the_entry_when_seen():
    responses.get(FEED_URL, body=rss(
        "<item><guid>tag:x,1:a</guid><title>old</title>"
        "<pubDate>Mon, 01 Jan -1199 00:00:00 GMT</pubDate></item>",
        "<item><guid>tag:x,1:b</guid><title>year 0</title>"
        "<pubDate>0001-01-01T00:00:00+01:00</pubDate></item>"), content_type="application/rss+xml")
    mentions = list(collector().collect(FEED_URL, {}))
    assert [m.extra for m in mentions] == [{"date_missing": True}] * 2
