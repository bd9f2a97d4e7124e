"""Review collectors: schema.org (JSON-LD + microdata), Trustpilot, App Store, CSS sites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses

from collectors.appstore import AppStoreCollector, AppStoreError
from collectors.css import CssCollector, CssError, Selectors, parse_stars
from collectors.http import Fetcher
from collectors.schemaorg import ReviewError, SchemaOrgCollector, normalise_rating
from collectors.trustpilot import TrustpilotCollector, TrustpilotError

FIXTURES = Path(__file__).parent / "fixtures"
PAGE = "https://shop.example/anvil"


def http() -> Fetcher:
    return Fetcher(requests.Session(), version="t", min_delay_seconds=0, max_retries=0,
                   respect_robots=False, sleep=lambda s: None)


# --- schema.org -------------------------------------------------------------------
@responses.activate
def test_schemaorg_jsonld_graph_nested_reviews_and_microdata():
    responses.get(PAGE, body=(FIXTURES / "schemaorg_mixed.html").read_text())
    c = SchemaOrgCollector(http())
    mentions = list(c.collect(PAGE, {}))
    assert [m.author for m in mentions] == ["Ana", "Ben", "Cy", "Dee"]
    ana, ben, cy, dee = mentions
    assert ana.native_id == "https://shop.example/anvil#r1"
    assert ana.rating == 4.0  # 8 of 10 -> 4 of 5
    assert ana.body == "Heavy & great \U0001F44D"
    assert ana.created_at == "2026-11-01T00:00:00Z"
    assert ben.rating == 2.0 and ben.body is None  # bare string rating, no reviewBody
    assert ben.created_at == "2026-11-02T00:00:00Z"  # "November 2, 2026"
    assert cy.rating is None and cy.extra["rating_problem"] == "rating 7 out of range 1-5"
    assert cy.extra["date_unparsed"] == "sometime"
    assert (dee.rating, dee.body, dee.created_at) == (1.0, "Broke in a week.",
                                                      "2026-10-30T00:00:00Z")
    assert any("JSON-LD block 2: malformed JSON" in n for n in c.stats.notes)
    # ids without @id are stable hashes: the same page read twice gives the same ids
    again = list(SchemaOrgCollector(http()).collect(PAGE, {}))
    assert [m.id for m in again] == [m.id for m in mentions]


@responses.activate
def test_schemaorg_page_without_reviews_is_a_clear_error():
    responses.get(PAGE, body=(FIXTURES / "schemaorg_none.html").read_text())
    with pytest.raises(ReviewError, match=r"schemaorg https://shop.example/anvil: no schema.org "
                                          r"Review markup"):
        list(SchemaOrgCollector(http()).collect(PAGE, {}))


@responses.activate
def test_schemaorg_truncated_html_still_reads_the_complete_reviews():
    whole = (FIXTURES / "schemaorg_mixed.html").read_text()
    responses.get(PAGE, body=whole[: whole.index("<p itemprop")])
    mentions = list(SchemaOrgCollector(http()).collect(PAGE, {}))
    assert [m.author for m in mentions] == ["Ana", "Ben", "Cy", "Dee"]
    assert mentions[3].body is None


def test_rating_normalisation():
    assert normalise_rating({"ratingValue": "4,5", "bestRating": "5"}) == (4.5, None)
    assert normalise_rating({"ratingValue": 85, "bestRating": 100, "worstRating": 0}) == \
        (4.25, None)
    assert normalise_rating("4") == (4.0, None)
    assert normalise_rating({"ratingValue": 0, "bestRating": 5})[0] is None  # worst is 1
    assert normalise_rating({"ratingValue": "n/a"})[1].startswith("no readable rating")


# --- Trustpilot ---------------------------------------------------------------------
TP = "https://www.trustpilot.com/review/acme.example"


def tp_review(n: int, rating: object, published: str) -> dict:
    return {"id": f"rev{n}", "title": f"T{n}", "text": f"Body {n} &amp; more", "rating": rating,
            "language": "en", "likes": n,
            "dates": {"publishedDate": published, "experiencedDate": None, "updatedDate": None},
            "consumer": {"displayName": f"User {n}", "countryCode": "GB"},
            "labels": {"verification": {"isVerified": n % 2 == 0}},
            "reply": {"message": "Sorry!"} if n == 1 else None}


def tp_page(reviews: list, total_pages: int) -> str:
    data = {"props": {"pageProps": {"reviews": reviews,
                                    "filters": {"pagination": {"totalPages": total_pages}}}}}
    return ('<html><body><script id="__NEXT_DATA__" type="application/json">'
            + json.dumps(data) + "</script></body></html>")


@responses.activate
def test_trustpilot_pages_until_the_last_one():
    responses.get(TP, body=tp_page([tp_review(1, 1, "2026-11-20T10:00:00.000Z"),
                                    tp_review(2, 5, "2026-11-19T10:00:00.000Z")], 2))
    responses.get(TP + "?page=2", body=tp_page([tp_review(3, 9, "2026-11-18T10:00:00Z")], 2))
    c = TrustpilotCollector(http())
    cursor: dict = {}
    mentions = list(c.collect(TP, cursor))
    assert [m.id for m in mentions] == ["trustpilot:rev1", "trustpilot:rev2", "trustpilot:rev3"]
    assert [m.rating for m in mentions] == [1.0, 5.0, None]  # 9 is out of range
    first = mentions[0]
    assert first.url == "https://www.trustpilot.com/reviews/rev1"
    assert (first.author, first.body, first.created_at) == ("User 1", "Body 1 & more",
                                                            "2026-11-20T10:00:00Z")
    assert first.extra["reply"] == "Sorry!" and mentions[1].extra["verified"] is True
    assert cursor == {"newest": "2026-11-20T10:00:00Z"}
    assert "rev3: rating 9 out of range" in c.stats.notes[0]
    assert len(responses.calls) == 2


@responses.activate
def test_trustpilot_stops_paging_at_reviews_already_seen():
    responses.get(TP, body=tp_page([tp_review(1, 4, "2026-11-01T10:00:00Z")], 5))
    mentions = list(TrustpilotCollector(http(), overlap_seconds=0).collect(
        TP, {"newest": "2026-11-10T00:00:00Z"}))
    assert [m.native_id for m in mentions] == ["rev1"] and len(responses.calls) == 1


@responses.activate
def test_trustpilot_without_next_data_is_a_clear_error():
    responses.get(TP, body="<html><body>Please verify you are a human</body></html>")
    with pytest.raises(TrustpilotError, match="no __NEXT_DATA__ script"):
        list(TrustpilotCollector(http()).collect(TP, {}))


@responses.activate
def test_trustpilot_malformed_next_data_says_where():
    responses.get(TP, body='<script id="__NEXT_DATA__">{"props": {"pageProps": </script>')
    with pytest.raises(TrustpilotError, match="malformed __NEXT_DATA__ JSON at line 1 col 25"):
        list(TrustpilotCollector(http()).collect(TP, {}))


@responses.activate
def test_trustpilot_error_on_page_two_keeps_page_one():
    responses.get(TP, body=tp_page([tp_review(1, 3, "2026-11-20T10:00:00Z")], 3))
    responses.get(TP + "?page=2", status=403, body="<h1>Access denied</h1>")
    got = []
    with pytest.raises(TrustpilotError, match=r"\?page=2: HTTP 403 Forbidden: Access denied"):
        for mention in TrustpilotCollector(http()).collect(TP, {}):
            got.append(mention.native_id)
    assert got == ["rev1"]


# --- App Store ----------------------------------------------------------------------
APP = "https://itunes.test/us/rss/customerreviews/page={}/id=123/sortby=mostrecent/json"


def app_entry(n: int, rating: str, updated: str) -> dict:
    return {"author": {"name": {"label": f"user{n}"}}, "updated": {"label": updated},
            "im:rating": {"label": rating}, "im:version": {"label": "2.1"},
            "id": {"label": str(1000 + n)}, "title": {"label": f"Title {n}"},
            "content": {"label": f"Text {n} \U0001F600", "attributes": {"type": "text"}},
            "im:voteSum": {"label": "3"}, "im:voteCount": {"label": "4"}}


@responses.activate
def test_appstore_reads_pages_until_an_empty_one():
    responses.get(APP.format(1), json={"feed": {"entry": [
        app_entry(1, "1", "2026-11-20T02:00:00-07:00"),
        app_entry(2, "5", "2026-11-19T00:00:00-07:00")]}})
    # one entry alone comes as an object, not a list
    responses.get(APP.format(2), json={"feed": {
        "entry": app_entry(3, "4", "2026-11-18T00:00:00-07:00")}})
    responses.get(APP.format(3), json={"feed": {"author": {}}})
    cursor: dict = {}
    mentions = list(AppStoreCollector(http(), base_url="https://itunes.test").collect(
        "us:123", cursor))
    assert [m.id for m in mentions] == ["appstore:1001", "appstore:1002", "appstore:1003"]
    assert [m.rating for m in mentions] == [1.0, 5.0, 4.0]
    assert mentions[0].created_at == "2026-11-20T09:00:00Z"
    assert mentions[0].body == "Text 1 \U0001F600" and mentions[0].author == "user1"
    assert mentions[0].extra == {"country": "us", "version": "2.1", "vote_sum": 3,
                                 "vote_count": 4}
    assert cursor == {"newest": "2026-11-20T09:00:00Z"}
    assert len(responses.calls) == 3


@responses.activate
def test_appstore_not_json_is_a_clear_error():
    responses.get(APP.format(1), body="<html>Not Found</html>", status=200)
    with pytest.raises(AppStoreError, match="malformed JSON at line 1 col 1"):
        list(AppStoreCollector(http(), base_url="https://itunes.test").collect("123", {}))


@responses.activate
def test_appstore_bad_date_names_the_review():
    responses.get(APP.format(1), json={"feed": {"entry": [app_entry(1, "3", "20/11/2026")]}})
    with pytest.raises(AppStoreError, match="review 1001 has an unreadable date '20/11/2026'"):
        list(AppStoreCollector(http(), base_url="https://itunes.test").collect("us:123", {}))


# --- CSS-described sites --------------------------------------------------------------
CSS = Selectors(review="div.rev", text="p.txt", rating=".stars@title", date="time",
                author=".who", title="h3", next="a.next", id_attr="data-id")


@responses.activate
def test_css_site_follows_next_page_and_reads_every_field():
    responses.get("https://rev.example/reviews",
                  body=(FIXTURES / "css_page1.html").read_text())
    responses.get("https://rev.example/reviews?page=2",
                  body=(FIXTURES / "css_page2.html").read_text())
    c = CssCollector(http(), CSS)
    mentions = list(c.collect("https://rev.example/reviews", {}))
    assert [m.id for m in mentions] == ["css:r-1", "css:r-2", "css:r-3"]
    eve, fay, gus = mentions
    assert (eve.title, eve.author, eve.rating, eve.body, eve.created_at) == (
        "Great", "Eve", 4.0, "Works well \u2764", "2026-11-03T00:00:00Z")
    assert fay.rating is None and fay.extra["rating_problem"] == "9 out of 5"
    assert gus.rating == 1.0 and gus.extra["date_unparsed"] == "the other day"
    assert gus.url == "https://rev.example/reviews?page=2"
    assert c.stats.pages == 2


@responses.activate
def test_css_selectors_that_match_nothing_are_an_error():
    responses.get("https://rev.example/reviews", body="<html><body>redesigned</body></html>")
    with pytest.raises(CssError, match="no review blocks match 'div.rev'"):
        list(CssCollector(http(), CSS).collect("https://rev.example/reviews", {}))


def test_star_text_parsing():
    assert parse_stars("4.0 out of 5 stars") == 4.0
    assert parse_stars("Rated 8/10") == 4.0
    assert parse_stars("3") == 3.0
    assert parse_stars("12") is None
