"""Google Play reviews over batchexecute, answered at the transport by ``responses``.

The raw answers are built by hand from google-play-scraper's element paths (review
``[0]`` id, ``[1][0]`` name, ``[2]`` stars, ``[4]`` text, ``[5][0]`` epoch seconds,
``[6]`` thumbs up, ``[7]`` reply, ``[10]`` version; token at ``[1][-1]``), not from the
collector's code, so a wrong path in the collector fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses

from collectors.googleplay import GooglePlayCollector, GooglePlayError, parse_target
from collectors.http import Fetcher

FIXTURES = Path(__file__).parent / "fixtures"
BATCH = "https://play.google.com/_/PlayStoreUi/data/batchexecute"
URL = BATCH + "?rpcids=oCPfdb&hl=en&gl=us"
APP = "com.whatsapp"
TOKEN = "CqwBCqUBKo4BAP8_fake_continuation_token_AAAA"  # in googleplay_page1.txt


def http(retries: int = 0, slept: list | None = None) -> Fetcher:
    return Fetcher(requests.Session(), version="t", min_delay_seconds=0, max_retries=retries,
                   respect_robots=False,
                   sleep=(slept.append if slept is not None else lambda s: None))


# --- building raw answers (shared with tests/acceptance/test_corpus_googleplay.py) ----
def wire_review(r: dict) -> list:
    """A google-play-scraper review dict back into the raw array Play sends."""
    raw: list = [None] * 12
    raw[0] = r["reviewId"]
    raw[1] = [r["userName"], [None, 2, None, [None, None, r.get("userImage")]]]
    raw[2] = r["score"]
    raw[4] = r["content"]
    raw[5] = [r["at"], 0]
    raw[6] = r["thumbsUpCount"]
    if r.get("replyContent") is not None:
        raw[7] = ["Developer", r["replyContent"], [r["repliedAt"], 0]]
    raw[10] = r.get("appVersion")
    return raw


def wire_answer(reviews: list | None, token: str | None = None, rpc: str = "oCPfdb") -> str:
    """A whole batchexecute answer: guard, then rows; the payload row holds a JSON string."""
    if reviews is None:
        payload = None
    else:
        payload = json.dumps([reviews, [None, token], None] if token else [reviews, None])
    rows = [["wrb.fr", rpc, payload, None, None, None if payload else [5], "generic"],
            ["di", 41], ["af.httprm", 40, "-3417208411328455410", 7]]
    return ")]}'\n\n" + json.dumps(rows)


def freq(request) -> list:
    """The RPC args a request sent: f.req is [[[rpcid, <args JSON>, null, "generic"]]]."""
    outer = json.loads(parse_qs(request.body)["f.req"][0])
    assert outer[0][0][0] == "oCPfdb" and outer[0][0][3] == "generic"
    return json.loads(outer[0][0][1])


def by_token(pages: dict) -> callable:
    """A responses callback: answer the page asked for by the continuation token."""
    def answer(request):
        size = freq(request)[1][2]
        token = size[2] if len(size) > 2 else None
        return 200, {"Content-Type": "application/json; charset=utf-8"}, pages[token]
    return answer


def two_pages() -> None:
    responses.add_callback(responses.POST, URL, callback=by_token({
        None: (FIXTURES / "googleplay_page1.txt").read_bytes(),
        TOKEN: (FIXTURES / "googleplay_page2.txt").read_bytes()}))


# --- the happy path ---------------------------------------------------------------
@responses.activate
def test_two_pages_newest_first_with_emoji_html_reply_and_bad_scores():
    two_pages()
    c = GooglePlayCollector(http(), page_size=3)
    cursor: dict = {}
    mentions = list(c.collect(APP, cursor))
    assert [m.native_id for m in mentions] == ["gp:AOqpTOE1-emoji-html", "gp:AOqpTOE2-no-score",
                                              "gp:AOqpTOE3-seven", "gp:AOqpTOE4-last"]
    assert [m.rating for m in mentions] == [4.0, None, None, 2.0]
    first = mentions[0]
    assert first.id == "googleplay:gp:AOqpTOE1-emoji-html" and first.kind == "review"
    # Plain text as typed, with Google's \u003c escapes decoded; emoji sequences intact.
    assert first.body == ("Love it 😍👍🏽 but <b>dark mode</b> &amp; <script>alert(1)</script> "
                          "breaks 👨\u200d👩\u200d👧 chats\nsecond line")
    assert first.author == "Zoë 🌸"
    assert first.created_at == "2026-07-09T20:13:38Z"  # 1783628018
    assert first.url == ("https://play.google.com/store/apps/details?id=com.whatsapp&hl=en&gl=us"
                         "&reviewId=gp%3AAOqpTOE1-emoji-html")
    assert first.extra == {"hl": "en", "gl": "us", "thumbs_up": 12, "app_version": "2.26.22.77",
                           "reply": "Thanks <3 — try Settings > Chats > Theme.",
                           "replied_at": "2026-07-09T21:03:20Z", "reply_author": "WhatsApp LLC"}
    assert mentions[1].extra["rating_problem"] == "None" and "app_version" not in mentions[1].extra
    assert mentions[2].extra["rating_problem"] == "7"
    assert c.stats.notes == ["review gp:AOqpTOE2-no-score: score None out of range 1-5",
                             "review gp:AOqpTOE3-seven: score 7 out of range 1-5"]
    assert cursor == {"newest": "2026-07-09T20:13:38Z"}
    assert (c.stats.pages, c.stats.requests) == (2, 2)
    # The requests: newest first (sort 2), page size, app id, then the token from page 1.
    first_req, second_req = (call.request for call in responses.calls)
    assert freq(first_req) == [None, [2, 2, [3], None, [None] * 9], [APP, 7]]
    assert freq(second_req)[1][2] == [3, None, TOKEN]
    assert first_req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert first_req.headers["User-Agent"].startswith("earful/t (+")


@responses.activate
def test_locale_target_goes_to_hl_and_gl_and_into_the_urls():
    responses.post(BATCH + "?rpcids=oCPfdb&hl=pt&gl=br",
                   body=wire_answer([wire_review(review(1, 1783628018))]))
    [m] = GooglePlayCollector(http()).collect("pt-BR:com.whatsapp", {})
    assert m.target == "pt-BR:com.whatsapp" and m.extra["gl"] == "br"
    assert m.url.startswith("https://play.google.com/store/apps/details?id=com.whatsapp&hl=pt"
                            "&gl=br&reviewId=")
    assert parse_target("com.whatsapp") == ("en", "us", "com.whatsapp")
    assert parse_target("de:com.whatsapp") == ("de", "us", "com.whatsapp")
    with pytest.raises(GooglePlayError, match=r"googleplay en-us:WhatsApp: not a Google Play app "
                                              r"id .*'WhatsApp'"):
        parse_target("en-us:WhatsApp")


def review(n: int, at: int, score: object = 5) -> dict:
    return {"reviewId": f"r{n}", "userName": f"U{n}", "content": f"text {n}", "score": score,
            "thumbsUpCount": 0, "at": at, "replyContent": None, "repliedAt": None,
            "appVersion": None}


# --- incremental and the page cap -------------------------------------------------------
@responses.activate
def test_incremental_stops_at_the_first_page_older_than_the_cursor():
    day = 86400
    page1 = [wire_review(review(n, 1783628018 - n * 3600)) for n in range(1, 4)]
    responses.post(URL, body=wire_answer(page1, token="more"))
    c = GooglePlayCollector(http(), overlap_seconds=day)
    # r1 19:13:38, r2 18:13:38, r3 17:13:38 (07-09); newest minus a day is 07-09 19:00.
    cursor = {"newest": "2026-07-10T19:00:00Z"}
    got = [m.native_id for m in c.collect(APP, cursor)]
    assert got == ["r1"] and len(responses.calls) == 1  # r2 is older: no second page
    assert cursor == {"newest": "2026-07-10T19:00:00Z"}  # never moves backwards


@responses.activate
def test_page_cap_is_honoured_and_noted():
    page = [wire_review(review(n, 1783628018 - n)) for n in range(2)]
    responses.post(URL, body=wire_answer(page, token="again-and-again"))
    c = GooglePlayCollector(http(), max_pages=1)
    assert len(list(c.collect(APP, {}))) == 2 and len(responses.calls) == 1
    assert c.stats.notes == ["stopped at the page cap (1 pages of 100)"]


@responses.activate
def test_a_repeated_token_does_not_loop():
    def answer(request):
        size = freq(request)[1][2]
        n = 2 if len(size) > 2 else 1
        return 200, {}, wire_answer([wire_review(review(n, 1783628018 - n))], token="same")
    responses.add_callback(responses.POST, URL, callback=answer)
    c = GooglePlayCollector(http(), max_pages=10)
    assert [m.native_id for m in c.collect(APP, {})] == ["r1", "r2"]
    assert len(responses.calls) == 2 and "repeated the page token" in c.stats.notes[0]


# --- failures: each names source, URL and what was wrong ---------------------------------
@responses.activate
def test_429_with_retry_after_is_waited_then_retried():
    responses.post(URL, status=429, headers={"Retry-After": "7"})
    responses.post(URL, body=wire_answer([wire_review(review(1, 1783628018))]))
    slept: list = []
    mentions = list(GooglePlayCollector(http(retries=1, slept=slept)).collect(APP, {}))
    assert [m.native_id for m in mentions] == ["r1"] and slept == [7.0]


@responses.activate
def test_429_for_too_long_is_a_rate_limited_error():
    responses.post(URL, status=429, headers={"Retry-After": "3600"})
    with pytest.raises(GooglePlayError, match=r"^googleplay https://play.google.com/_/PlayStoreUi/"
                                              r"data/batchexecute\?rpcids=oCPfdb&hl=en&gl=us: "
                                              r"HTTP 429 with Retry-After 3600 s") as err:
        list(GooglePlayCollector(http(retries=1)).collect(APP, {}))
    assert err.value.rate_limited and err.value.status == 429


@responses.activate
def test_500_on_page_two_keeps_page_one():
    responses.add_callback(responses.POST, URL, callback=_page_then_500)
    got = []
    c = GooglePlayCollector(http())
    with pytest.raises(GooglePlayError, match=r"batchexecute\?rpcids=oCPfdb&hl=en&gl=us: HTTP 500 "
                                              r"after 1 tries"):
        for mention in c.collect(APP, {}):
            got.append(mention.native_id)
    assert got == ["gp:AOqpTOE1-emoji-html", "gp:AOqpTOE2-no-score", "gp:AOqpTOE3-seven"]
    assert c.stats.http_errors[500] == 1


def _page_then_500(request):
    size = freq(request)[1][2]
    if len(size) > 2:
        return 500, {}, "boom"
    return 200, {}, (FIXTURES / "googleplay_page1.txt").read_bytes()


@responses.activate
def test_playgatewayerror_is_reported_as_rate_limiting():
    responses.post(URL, body=")]}'\n\n" + json.dumps(
        [["wrb.fr", "oCPfdb", None, None, None, [8, None, [[
            "type.googleapis.com/com.google.play.gateway.proto.PlayGatewayError", []]]],
          "generic"]]))
    with pytest.raises(GooglePlayError, match="PlayGatewayError") as err:
        list(GooglePlayCollector(http()).collect(APP, {}))
    assert err.value.rate_limited


@pytest.mark.parametrize(("body", "problem"), [
    ("<!doctype html><html><body><h1>Before you continue to Google</h1></body></html>",
     r"not a batchexecute answer \(no \)\]\}' prefix; a consent or captcha page\?\) OK: "
     r"Before you continue to Google"),
    (wire_answer([wire_review(review(1, 1783628018))])[:60],
     r"malformed JSON at line 3 col \d+"),
    (")]}'\n\n" + json.dumps([["wrb.fr", "oCPfdb", '[[["r1",["U1"],5,null,"cut off', None]]),
     r"malformed wrb.fr payload at char \d+: Unterminated string"),
    (wire_answer([], rpc="UsvDTd"), r"no wrb.fr row for rpc oCPfdb in the answer: the endpoint "
                                    r"may have changed"),
    (")]}'\n\n" + json.dumps([["er", None, None, None, None, 400, None, None, None, 3]]),
     r"no wrb.fr row for rpc oCPfdb in the answer \(error row \[\"er\", null"),
])
@responses.activate
def test_malformed_answers_say_what_was_wrong(body, problem):
    responses.post(URL, body=body)
    with pytest.raises(GooglePlayError, match=r"^googleplay https://play.google.com/_/PlayStoreUi/"
                                              r"data/batchexecute\?rpcids=oCPfdb&hl=en&gl=us: "
                                              + problem):
        list(GooglePlayCollector(http()).collect(APP, {}))


@responses.activate
def test_an_app_that_does_not_exist():
    page = "https://play.google.com/store/apps/details?id=com.example.nope&hl=en&gl=us"
    responses.post(URL, body=(FIXTURES / "googleplay_no_app.txt").read_bytes())
    with pytest.raises(GooglePlayError, match=r"error envelope \(status \[5\]\) instead of "
                                              r"reviews: does the app exist\? " + page.replace(
                                                  "?", r"\?")):
        list(GooglePlayCollector(http()).collect("com.example.nope", {}))
    responses.replace(responses.POST, URL, body=")]}'\n\n" + json.dumps(
        [["wrb.fr", "oCPfdb", "[]", None, None, None, "generic"]]))
    with pytest.raises(GooglePlayError, match=r"no reviews for app 'com.example.nope' in en-us: "
                                              r"check the app id at " + page.replace("?", r"\?")):
        list(GooglePlayCollector(http()).collect("com.example.nope", {}))


@responses.activate
def test_a_review_without_time_is_skipped_with_a_note_and_its_siblings_kept():
    broken = wire_review(review(2, 1783628000))
    broken[5] = None
    responses.post(URL, body=wire_answer([wire_review(review(1, 1783628018)), broken,
                                          wire_review(review(3, 1783627000))]))
    collector = GooglePlayCollector(http())
    got = [m.native_id for m in collector.collect(APP, {})]
    assert got == ["r1", "r3"]
    assert collector.stats.skipped == [
        "item 'r2' field [5][0]: review r2 has no readable time at [5][0]: None: skipped"]


@responses.activate
def test_a_page_where_no_review_is_readable_fails_naming_the_first_problem():
    broken = wire_review(review(2, 1783628000))
    broken[5] = None
    responses.post(URL, body=wire_answer([broken]))
    with pytest.raises(GooglePlayError, match=r"none of the 1 items is readable: item 'r2' "
                                              r"field \[5\]\[0\]: review r2 has no readable"):
        list(GooglePlayCollector(http()).collect(APP, {}))


