"""The labelled sets in ../shared/corpus/sentiment, with the label rules and the dev/test split.

Label rules (documented in README.md):
- VADER's human-rated sets (mean of ~20 raters on -4..+4): negative if mean < -0.5, positive if
  mean > +0.5, neutral otherwise.
- Women's clothing reviews: 1-2 stars negative, 3 neutral, 4-5 positive; scored on TEXT ONLY
  (title + review text, the rating is never given to the scorer).

Split: "dev" = odd ids (used to calibrate the cut-offs and to look at errors), "test" = even ids
(reported). Amazon snippet ids are review_sentence: the split is on the review number, so the
sentences of one review never straddle the split. Tweets: the numeric id. Clothing: the row index.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
CORPUS = SHARED / "corpus" / "sentiment"

NEG_MEAN = -0.5  # human mean below this is negative
POS_MEAN = 0.5  # human mean above this is positive


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    gold: str  # negative | neutral | positive
    mean: float | None  # human mean rating (-4..4) where there is one
    dev: bool


def gold_from_mean(mean: float) -> str:
    if mean < NEG_MEAN:
        return "negative"
    if mean > POS_MEAN:
        return "positive"
    return "neutral"


def gold_from_stars(stars: int) -> str:
    return "negative" if stars <= 2 else "positive" if stars >= 4 else "neutral"


def _vader_file(name: str, key) -> list[Item]:
    raw = (CORPUS / "vader" / name).read_bytes().decode("utf-8", errors="replace")
    items = []
    for line in raw.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        ident, mean, text = line.split("\t", 2)
        value = float(mean)
        items.append(Item(ident, text, gold_from_mean(value), value, key(ident) % 2 == 1))
    return items


def amazon() -> list[Item]:
    return _vader_file("amazonReviewSnippets_GroundTruth.txt", lambda i: int(i.split("_")[0]))


def tweets() -> list[Item]:
    return _vader_file("tweets_GroundTruth.txt", int)


def clothing() -> list[Item]:
    path = CORPUS / "womens_clothing_reviews" / "womens_clothing_ecommerce_reviews_first1000.csv"
    items = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = "\n".join(p for p in (row["Title"], row["Review Text"]) if p.strip())
            if not text.strip():
                continue
            idx = int(row[""])
            items.append(Item(str(idx), text, gold_from_stars(int(row["Rating"])), None,
                              idx % 2 == 1))
    return items


SETS = {"amazon snippets": amazon, "tweets": tweets, "clothing reviews": clothing}


def available() -> bool:
    return CORPUS.is_dir()
