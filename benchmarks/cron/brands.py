"""The detect stage over many brands: a catch-up, then the hourly run cron would do.

    python benchmarks/cron/brands.py --brands 1000 --days 10 --per-hour 2

Builds one database with B brands, each with mentions every hour for D days (scored), runs
the detect stage once to catch up (D*24 buckets per brand), then times the steady state:
one more closed hour for every brand, as an hourly cron run sees it. Reports the median
of --repeats hourly runs, the time per brand, and the detector state size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from analysis import sentiment  # noqa: E402
from earful import config as cfg  # noqa: E402
from earful import db as store  # noqa: E402
from earful import pipeline  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--brands", type=int, default=1000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--per-hour", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(1)
    work = Path(tempfile.mkdtemp(prefix="earful-brands-"))
    path = work / "earful.db"
    names = [f"Brand{i:04d}" for i in range(args.brands)]
    text = f'[earful]\ndatabase = "{path}"\n' + "".join(
        f'[[brands]]\nname = "{n}"\nkeywords = ["{n.lower()}"]\n' for n in names)
    config = cfg.parse(tomllib.loads(text), work / "c.toml", env={})
    end = dt.datetime(2026, 11, 23, 0, tzinfo=dt.UTC)
    start = end - dt.timedelta(days=args.days)
    db = store.connect(path)
    hours = args.days * 24
    collected = "2026-11-01T00:00:00Z"
    rows, scores = [], []
    for b, name in enumerate(names):
        for h in range(hours + args.repeats + 1):
            for k in range(int(args.per_hour + rng.random())):
                at = store.iso(start + dt.timedelta(hours=h, seconds=rng.randrange(3600)))
                mid = f"bench:{b}-{h}-{k}"
                row = dict.fromkeys(store.COLUMNS)
                row.update(id=mid, source="bench", native_id=f"{b}-{h}-{k}", kind="post",
                           brand=name, created_at=at, collected_at=collected, deleted=0,
                           body="x")
                rows.append([row[c] for c in store.COLUMNS])
                label = "negative" if rng.random() < 0.15 else "positive"
                scores.append((mid, sentiment.MODEL, sentiment.VERSION, 0.0, label, 0,
                               collected))
    with db.atomic():
        db.conn.executemany(store.INSERT_MENTION, rows)
        db.conn.executemany("INSERT INTO scores (mention_id, model, version, score, label, "
                            "disagrees, scored_at) VALUES (?, ?, ?, ?, ?, ?, ?)", scores)
        db.execute("INSERT INTO models VALUES (?, ?, 1, ?)", [sentiment.MODEL,
                                                              sentiment.VERSION, collected])
        # What the score stage writes with each score: the rows detection counts.
        store.save_facts(db, ("", ""), (collected, "\uffff"))
    t = time.perf_counter()
    pipeline.detect(db, config, now=end)
    catch_up = time.perf_counter() - t
    hourly = []
    for r in range(1, args.repeats + 1):
        t = time.perf_counter()
        pipeline.detect(db, config, now=end + dt.timedelta(hours=r))
        hourly.append(time.perf_counter() - t)
    state = db.execute("SELECT avg(length(state)), max(length(state)) FROM detector_states"
                       ).fetchone()
    median = statistics.median(hourly)
    print(json.dumps({
        "brands": args.brands, "mentions": len(rows), "catch_up_buckets_per_brand": hours,
        "catch_up_s": round(catch_up, 2),
        "catch_up_us_per_bucket": round(catch_up / (hours * args.brands) * 1e6, 1),
        "hourly_run_s_median": round(median, 3),
        "hourly_ms_per_brand": round(median / args.brands * 1000, 2),
        "state_bytes_avg_max": [round(state[0]), state[1]]}, indent=1))
    db.close()


if __name__ == "__main__":
    main()
