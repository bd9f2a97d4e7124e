"""Ratings a page states badly are refused or put on their own scale, never stored wrong:
"-3" is not 3 (nor -3) stars, "5 out of 10" is 2.5 stars, not 5."""

from __future__ import annotations

import json

import pytest

from collectors.css import Selectors, parse_css_page
from collectors.schemaorg import parse_schemaorg

CASES = [("-3", None), ("\u22123", None), ("5 out of 10", 2.5), ("8/10", 4.0), ("4", 4.0),
         ("-3 out of 5", None), ("4.5 out of 5 stars", 4.5)]


def jsonld_page(ratings: list[object]) -> str:
    reviews = [{"@type": "Review", "reviewBody": f"review {i} of the Larkspur app",
                "author": {"@type": "Person", "name": f"p{i}"}, "reviewRating": rating}
               for i, rating in enumerate(ratings)]
    data = {"@context": "https://schema.org", "@type": "Product", "name": "Larkspur",
            "review": reviews}
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


@pytest.mark.parametrize("shape", ["bare", "object"])
def test_schemaorg_ratings(shape):
    ratings = [text if shape == "bare" else {"@type": "Rating", "ratingValue": text}
               for text, _ in CASES]
    mentions, notes, skipped = parse_schemaorg(jsonld_page(ratings),
                                               "https://reviews.example/larkspur")
    assert not skipped  # a bad rating never skips the review
    got = {m.body.split()[1]: m.rating for m in mentions}
    assert len(mentions) == len(CASES)  # a bad rating never loses the review itself
    for i, (text, stars) in enumerate(CASES):
        assert got[str(i)] == stars, (text, got[str(i)])
    assert any("-3" in note for note in notes), notes


def test_css_ratings():
    blocks = "".join(f'<div class="r" id="r{i}"><p class="t">review {i}</p>'
                     f'<span class="s">{text}</span></div>' for i, (text, _) in enumerate(CASES))
    mentions, _ = parse_css_page(f"<html><body>{blocks}</body></html>",
                                 "https://reviews.example/larkspur", "larkspur",
                                 Selectors(review="div.r", text="p.t", rating="span.s"), [])
    got = {m.body: m.rating for m in mentions}
    for i, (text, stars) in enumerate(CASES):
        assert got[f"review {i}"] == stars, (text, got[f"review {i}"])
