"""The corpus's 100 Google Play reviews of com.whatsapp through the real collector.

The corpus holds google-play-scraper's parsed output only, so each review is rebuilt
into the raw batchexecute array (by the element paths, in the unit tests' helpers) and
served at the transport in two pages of 50 joined by a continuation token.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import requests
import responses

from collectors.googleplay import GooglePlayCollector
from collectors.http import Fetcher

from ..test_collect_googleplay import freq, wire_answer, wire_review
from .conftest import corpus_path

URL = "https://play.google.com/_/PlayStoreUi/data/batchexecute?rpcids=oCPfdb&hl=en&gl=us"
TOKEN = "CsEBCrwBKpgBAPCdVQYcorpus-page-2"


def utc(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def serve(parsed: list[dict]) -> None:
    pages = {None: wire_answer([wire_review(r) for r in parsed[:50]], token=TOKEN),
             TOKEN: wire_answer([wire_review(r) for r in parsed[50:]])}

    def answer(request):
        size = freq(request)[1][2]
        return 200, {"Content-Type": "application/json; charset=utf-8"}, pages[
            size[2] if len(size) > 2 else None]
    responses.add_callback(responses.POST, URL, callback=answer)


@responses.activate
def test_google_play_100_reviews_in_two_pages():
    parsed = json.loads(corpus_path("reviews", "scraped_json",
                                    "google_play_reviews.json").read_text())
    serve(parsed)
    http = Fetcher(requests.Session(), version="t", min_delay_seconds=0, max_retries=0,
                   respect_robots=False, sleep=lambda s: None)
    collector = GooglePlayCollector(http, page_size=50)
    cursor: dict = {}
    mentions = list(collector.collect("en-us:com.whatsapp", cursor))

    assert len(mentions) == 100 and len({m.id for m in mentions}) == 100
    assert dict(Counter(m.rating for m in mentions)) == {5.0: 76, 4.0: 8, 3.0: 3, 2.0: 3,
                                                         1.0: 10}
    assert [m.native_id for m in mentions] == [r["reviewId"] for r in parsed]
    assert [m.author for m in mentions] == [r["userName"] for r in parsed]
    assert mentions[0].author == "Ibrahimsulaimaniliyasu Ibrahimsulaimaniliyasu"
    assert [m.created_at for m in mentions] == [utc(r["at"]) for r in parsed]
    assert (mentions[0].created_at, mentions[-1].created_at) == ("2026-07-09T20:13:38Z",
                                                                 "2026-07-09T19:18:43Z")
    assert [m.body for m in mentions] == [r["content"] or None for r in parsed]
    assert mentions[1].body == "very good✅️"
    assert [m.extra.get("app_version") for m in mentions] == [r["appVersion"] for r in parsed]
    assert [m.extra["thumbs_up"] for m in mentions] == [r["thumbsUpCount"] for r in parsed]
    # No corpus review has a developer reply: none is invented (replies: unit tests).
    assert not any(r["replyContent"] for r in parsed)
    assert not any("reply" in m.extra for m in mentions)
    assert mentions[0].url == ("https://play.google.com/store/apps/details?id=com.whatsapp"
                               "&hl=en&gl=us&reviewId=d4c8df24-1b35-4928-8b66-4d7bf5ccc2e4")
    assert collector.stats.notes == [] and collector.stats.pages == 2
    second = responses.calls[1].request
    assert freq(second)[1][2] == [50, None, TOKEN]
    assert cursor == {"newest": "2026-07-09T20:13:38Z"}

    # The next run re-reads only the overlap window, and stops after one page.
    again = GooglePlayCollector(http, page_size=50, overlap_seconds=600)
    fresh = [m.native_id for m in again.collect("en-us:com.whatsapp", dict(cursor))]
    newest = max(r["at"] for r in parsed)
    assert fresh == [r["reviewId"] for r in parsed if r["at"] >= newest - 600]
    assert 0 < len(fresh) < 50 and len(responses.calls) == 3
