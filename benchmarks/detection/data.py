"""Load the NAB realTweets corpus from ``<repo>/../shared/corpus/nab`` (never copied here)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NAB = REPO.parent / "shared" / "corpus" / "nab"
DEV_FILES = ["AAPL", "AMZN", "CRM", "CVS", "FB"]
RESULTS = Path(__file__).resolve().parent / "results"


def require_corpus() -> Path:
    if not (NAB / "realTweets").is_dir():
        sys.exit(f"NAB corpus not found at {NAB} (expected <repo>/../shared/corpus/nab); skipping.")
    return NAB


def read_nab_csv(path: Path) -> list[tuple[str, int]]:
    """Rows of (timestamp text, value) from a NAB-format CSV."""
    with path.open(newline="") as handle:
        return [(row["timestamp"], int(float(row["value"]))) for row in csv.DictReader(handle)]


def windows(name: str) -> list[tuple[str, str]]:
    """Labelled windows of a dev file, as row timestamps ``YYYY-MM-DD HH:MM:SS``."""
    labels = json.loads((NAB / "labels" / "realTweets_windows.json").read_text())
    return [(a[:19], b[:19]) for a, b in labels.get(f"realTweets/Twitter_volume_{name}.csv", [])]


def parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def hourly(rows: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Rebin 5-minute rows into whole UTC hours (partial first/last hours dropped)."""
    sums: dict[dt.datetime, int] = {}
    counts: dict[dt.datetime, int] = {}
    for text, value in rows:
        hour = parse(text).replace(minute=0, second=0)
        sums[hour] = sums.get(hour, 0) + value
        counts[hour] = counts.get(hour, 0) + 1
    return [(iso(h), sums[h]) for h in sorted(sums) if counts[h] == 12]
