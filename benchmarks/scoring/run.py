"""Scoring speed: the score stage end to end against plain VADER on the same texts.

    python benchmarks/scoring/run.py --texts 40000 --repeats 3

Measures, on the same N ~50-word texts (built from the demo's phrase banks):
  vader        plain vaderSentiment polarity_scores, one process
  scorer       analysis.sentiment.analyze, one process (the model alone)
  stage-1      the `score` stage end to end on a real SQLite file (read, score, write,
               commit per batch), score_workers = 1
  stage-all    the same with score_workers = 0 (every core; a backlog this big qualifies)
Each figure is the median of --repeats; stage runs start from a copy of the same database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # noqa: E402

from analysis import sentiment  # noqa: E402
from collectors.base import Mention  # noqa: E402
from earful import config as cfg  # noqa: E402
from earful import db as store  # noqa: E402
from earful import demo_data as dd  # noqa: E402
from earful import pipeline  # noqa: E402


def texts(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words: list[str] = []
        while len(words) < 50:
            pool = rng.choice([dd.POSITIVE, dd.NEGATIVE, dd.NEUTRAL, dd.STORM])
            words += rng.choice(pool).format(b=dd.BRAND, f=rng.choice(dd.FEATURES),
                                             g=rng.choice(dd.GOOD), p=rng.choice(dd.PROBLEMS),
                                             p2="break").split()
        out.append(" ".join(words[:50]))
    return out


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def build(path: Path, corpus: list[str]) -> None:
    db = store.connect(path)
    with db.atomic():
        store.save_mentions(db, "Larkspur", (
            Mention(source="bench", native_id=str(i), kind="post", target="t",
                    created_at="2026-11-01T00:00:00Z", body=text)
            for i, text in enumerate(corpus)), collected_at="2026-11-01T00:00:00Z")
    db.close()


def stage(template: Path, work: Path, workers: int) -> float:
    path = work / f"stage-{workers}.db"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.unlink(f"{path}{suffix}")
    shutil.copy(template, path)
    text = f'[earful]\ndatabase = "{path}"\nscore_workers = {workers}\n'
    config = cfg.parse(tomllib.loads(text), work / "c.toml", env={})
    db = store.connect(path)
    try:
        return timed(lambda: pipeline.score(db, config, show_progress=False))
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=40_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    corpus = texts(args.texts)
    vader = SentimentIntensityAnalyzer()
    work = Path(tempfile.mkdtemp(prefix="earful-score-"))
    template = work / "template.db"
    build(template, corpus)
    times: dict[str, list[float]] = {k: [] for k in ("vader", "scorer", "stage-1", "stage-all")}
    for _ in range(args.repeats):  # interleaved, so drift in machine speed hits all alike
        times["vader"].append(timed(lambda: [vader.polarity_scores(t) for t in corpus]))
        times["scorer"].append(timed(lambda: [sentiment.analyze(t) for t in corpus]))
        times["stage-1"].append(stage(template, work, 1))
        times["stage-all"].append(stage(template, work, 0))
    medians = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: round(args.texts / v) for k, v in medians.items()}
    print(json.dumps({
        "texts": args.texts, "words_per_text": 50, "repeats": args.repeats,
        "cores": os.cpu_count(), "texts_per_s": rate,
        "ratio_vs_vader": {k: round(rate[k] / rate["vader"], 2) for k in rate},
        "model": f"{sentiment.MODEL} {sentiment.VERSION}"}, indent=1))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
