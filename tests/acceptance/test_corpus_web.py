"""Corpus feeds, HN answers and review pages/JSON through the real collectors, HTTP answered
at the transport by ``responses``. Expected figures: the corpus README, or the raw files."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests
import responses

from collectors.appstore import AppStoreCollector
from collectors.css import CssCollector, Selectors
from collectors.feeds import FeedCollector
from collectors.hackernews import HackerNewsCollector
from collectors.http import Fetcher
from collectors.schemaorg import ReviewError, SchemaOrgCollector
from collectors.trustpilot import TrustpilotCollector

from .conftest import corpus_path


def http() -> Fetcher:
    return Fetcher(requests.Session(), version="t", min_delay_seconds=0, max_retries=0,
                   respect_robots=False, sleep=lambda s: None)


def stars(mentions) -> dict:
    return dict(Counter(m.rating for m in mentions))


@responses.activate
def test_google_alerts_feed_20_entries():
    url = "https://www.google.com/alerts/feeds/04175468913983673025/4428013283581841004"
    responses.get(url, body=corpus_path("feeds", "google_alerts", "google_alerts_atom.xml")
                  .read_bytes(), content_type="application/atom+xml")
    mentions = list(FeedCollector(http()).collect(url, {}))
    assert len(mentions) == 20 and len({m.id for m in mentions}) == 20
    assert all(m.native_id.startswith("tag:google.com,2013:googlealerts/feed:")
               for m in mentions)
    assert mentions[0].url.startswith("https://www.aglobalmarketresearch.com/report-offers-")
    assert mentions[1].url == "https://investorplace.com/2019/07/slack-stock-truly-compelling/"
    assert not any("google.com/url" in m.url for m in mentions)
    assert not any("<b>" in (m.title or "") + (m.body or "") for m in mentions)
    assert mentions[1].title == "Slack Stock Has a Compelling Story and the Numbers to Back It Up"
    assert mentions[0].created_at == "2019-07-10T11:53:37Z"
    assert all(m.created_at.startswith("2019-07-") for m in mentions)
    assert all(m.author is None for m in mentions)


@responses.activate
def test_hn_search_answer_4_stories():
    raw = corpus_path("hn_algolia", "search_url_medium_ssh.json").read_text()
    responses.get("https://hn.algolia.com/api/v1/search_by_date", body=raw)
    mentions = list(HackerNewsCollector(http()).collect("medium.com/@shazow", {}))
    hits = json.loads(raw)["hits"]
    assert [m.native_id for m in mentions] == ["8828543", "11516582", "13566801", "8830693"]
    assert [m.author for m in mentions] == [h["author"] for h in hits]
    assert [m.created_at for m in mentions][0] == "2015-01-02T21:05:46Z"
    assert {m.kind for m in mentions} == {"story"}
    assert mentions[0].url == "https://news.ycombinator.com/item?id=8828543"
    assert mentions[0].extra["points"] == 270 and mentions[0].extra["num_comments"] == 103


@responses.activate
def test_hn_item_tree_105_items():
    raw = corpus_path("hn_algolia", "items_8828543.json").read_text()
    responses.get("https://hn.algolia.com/api/v1/items/8828543", body=raw)
    mentions = list(HackerNewsCollector(http()).collect("item:8828543", {}))
    nodes, stack = [], [json.loads(raw)]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("children") or [])
    assert len(mentions) == len(nodes) == 105
    assert Counter(m.kind for m in mentions) == {"story": 1, "comment": 104}
    assert {m.native_id for m in mentions} == {str(n["id"]) for n in nodes}
    deleted = {str(n["id"]) for n in nodes if n["author"] is None and n["text"] is None}
    assert {m.native_id for m in mentions if m.deleted} == deleted
    assert not any("<p>" in (m.body or "") or "&#x27;" in (m.body or "") for m in mentions)


@pytest.mark.parametrize(("name", "count", "ratings", "lowest", "no_body"), [
    ("schema_org_jsonld/hostthetoast.com_hostthetoast_1.html", 60, {3.0: 2, 4.0: 7, 5.0: 51},
     3, 0),
    ("schema_org_jsonld/theclevercarrot.com_theclevercarrot_1.html", 30, None, 3, 1),
    ("schema_org_jsonld/allrecipes.com_allrecipescurated.html", 10, None, 4, 0),
    ("schema_org_microdata/williams-sonoma.com_williamssonoma_2.html", 8, None, 1, 0),
    ("schema_org_examples/CreativeWork.001.html", 2, {5.0: 1, 4.0: 1}, 4, 0),
])
@responses.activate
def test_schemaorg_pages(name, count, ratings, lowest, no_body):
    url = f"https://pages.test/{name}"
    responses.get(url, body=corpus_path("reviews", "html", *name.split("/")).read_bytes(),
                  content_type="text/html; charset=utf-8")
    mentions = list(SchemaOrgCollector(http()).collect(url, {}))
    assert len(mentions) == count and len({m.id for m in mentions}) == count
    if ratings:
        assert stars(mentions) == ratings
    assert min(m.rating for m in mentions) == lowest
    assert max(m.rating for m in mentions) == 5
    assert sum(1 for m in mentions if m.body is None) == no_body
    assert all(m.author for m in mentions)


@responses.activate
def test_williams_sonoma_microdata_fields():
    url = "https://pages.test/ws"
    responses.get(url, body=corpus_path("reviews", "html", "schema_org_microdata",
                                        "williams-sonoma.com_williamssonoma_2.html").read_bytes())
    first = list(SchemaOrgCollector(http()).collect(url, {}))[0]
    assert (first.author, first.title, first.rating, first.created_at) == (
        "Donnagar10", "Chocolate Cake?", 1.0, "2022-10-30T00:00:00Z")


@pytest.mark.parametrize("name", ["schema_org_examples/product.html",
                                  "google_play/com.instagram.igtv.html"])
@responses.activate
def test_pages_with_only_an_aggregate_rating_are_no_reviews(name):
    url = f"https://pages.test/{name}"
    responses.get(url, body=corpus_path("reviews", "html", *name.split("/")).read_bytes())
    with pytest.raises(ReviewError, match=f"schemaorg {url}: no schema.org Review markup"):
        list(SchemaOrgCollector(http()).collect(url, {}))


@responses.activate
def test_amazon_page_through_css_selectors_13_reviews():
    url = "https://www.amazon.com/dp/B0011UCPM4"
    page = corpus_path("reviews", "html", "amazon", "amazon-com_product-url.html").read_bytes()
    responses.get(url, body=page, content_type="text/html; charset=utf-8")
    selectors = Selectors(
        review="[data-hook=review]", text="[data-hook=review-collapsed] > span",
        rating="[data-hook=review-star-rating], [data-hook=cmps-review-star-rating]",
        date="[data-hook=review-date]", author=".a-profile-name",
        title="[data-hook=review-title] > span:not(.a-letter-space)")
    mentions = list(CssCollector(http(), selectors).collect(url, {}))
    assert len(mentions) == 13 and len({m.id for m in mentions}) == 13
    assert mentions[0].native_id == "RCDBNB3418NAE" and mentions[0].author == "lighthouse88"
    assert mentions[0].created_at == "2021-08-02T00:00:00Z"
    assert mentions[0].title == "solid story and entertaining" and mentions[0].rating == 5.0
    assert all(m.rating is not None and m.body for m in mentions)


def _next_data(reviews: list, page: int, total: int) -> str:
    props = {"reviews": reviews, "filters": {"pagination": {"currentPage": page,
                                                             "totalPages": total}}}
    return ('<html><head></head><body><script id="__NEXT_DATA__" type="application/json">'
            + json.dumps({"props": {"pageProps": props}}) + "</script></body></html>")


@responses.activate
def test_trustpilot_60_reviews_over_3_pages():
    # The corpus holds the pageProps.reviews objects; the page around them is ours.
    reviews = json.loads(corpus_path("reviews", "scraped_json",
                                     "trustpilot_reviews.json").read_text())
    url = "https://www.trustpilot.com/review/www.bhphotovideo.com"
    for n in range(3):
        responses.get(url + (f"?page={n + 1}" if n else ""),
                      body=_next_data(reviews[n * 20:(n + 1) * 20], n + 1, 3))
    mentions = list(TrustpilotCollector(http()).collect(url, {}))
    assert len(mentions) == 60 and len(responses.calls) == 3
    assert stars(mentions) == {5.0: 57, 3.0: 2, 1.0: 1}
    assert [m.native_id for m in mentions] == [r["id"] for r in reviews]
    assert [m.author for m in mentions] == [r["consumer"]["displayName"] for r in reviews]
    assert mentions[0].created_at == "2023-12-07T11:23:40Z"
    assert mentions[0].url == "https://www.trustpilot.com/reviews/65718f1ba9549dd90f396b4a"


@responses.activate
def test_trustpilot_three_company_pages():
    companies = json.loads(corpus_path("reviews", "scraped_json",
                                       "trustpilot_companies.json").read_text())
    for company in companies:
        responses.get(company["pageUrl"], body=_next_data(company["reviews"], 1, 1))
        mentions = list(TrustpilotCollector(http()).collect(company["pageUrl"], {}))
        assert [m.native_id for m in mentions] == [r["id"] for r in company["reviews"]]
        assert stars(mentions) == dict(Counter(float(r["rating"]) for r in company["reviews"]))


@responses.activate
def test_app_store_50_reviews():
    # Only the one-to-one parsed form exists in the corpus: rebuilt into the RSS JSON shape.
    parsed = json.loads(corpus_path("reviews", "scraped_json",
                                    "app_store_reviews.json").read_text())
    entries = [{"author": {"name": {"label": r["userName"]}, "uri": {"label": r["userUrl"]}},
                "updated": {"label": r["updated"]}, "im:rating": {"label": str(r["score"])},
                "im:version": {"label": r["version"]}, "id": {"label": r["reviewId"]},
                "title": {"label": r["title"]}, "content": {"label": r["content"]},
                "im:voteSum": {"label": str(r["voteSum"])},
                "im:voteCount": {"label": str(r["voteCount"])}} for r in parsed]
    base = "https://itunes.apple.com/us/rss/customerreviews/page={}/id=6448311069"
    responses.get(base.format(1) + "/sortby=mostrecent/json", json={"feed": {"entry": entries}})
    responses.get(base.format(2) + "/sortby=mostrecent/json", json={"feed": {}})
    mentions = list(AppStoreCollector(http()).collect("us:6448311069", {}))
    assert len(mentions) == 50
    assert stars(mentions) == {5.0: 34, 4.0: 3, 3.0: 3, 2.0: 1, 1.0: 9}
    assert [m.native_id for m in mentions] == [r["reviewId"] for r in parsed]
    assert mentions[0].author == "Pyschotic Gamer"
    assert mentions[0].created_at == "2026-07-30T16:13:05Z"  # -07:00 -> UTC
