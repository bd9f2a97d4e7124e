"""Cron cost must not grow with history: `earful run` with nothing new, small vs huge database.

    python benchmarks/cron/run.py --small 10000 --large 10000000 --runs 7

Builds two databases of N mentions each (raw inserts, then the full-text index, scores,
positions and detector state filled in bulk, so the large one takes minutes, not hours),
serves a feed whose entries are already stored from a local server, then times the
installed `earful run` on each database, alternating small/large, and reports medians and
the ratio. Each database is built once and kept under --dir for re-runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from analysis import sentiment  # noqa: E402
from earful import db as store  # noqa: E402
from earful.pipeline import score_stage_key  # noqa: E402

EARFUL = str(Path(sys.executable).parent / "earful")
FEED_ITEMS = 20
TEXTS = ["Acme sync is slow again today", "Love the new Acme board view",
         "Does Acme support recurring tasks?", "Acme charged me twice, want a refund",
         "Acme mobile app keeps crashing", "Switched the team to Acme, great so far"]


def feed_xml() -> bytes:
    entries = "".join(
        f"<entry><id>tag:bench,2026:{i}</id><title>Acme news {i}</title>"
        f"<link href='https://news.example/{i}'/><updated>2026-11-01T00:{i:02d}:00Z</updated>"
        f"<content type='html'>Acme item {i}</content></entry>" for i in range(FEED_ITEMS))
    return (f"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            f"<title>bench</title><id>bench</id><updated>2026-11-01T00:00:00Z</updated>"
            f"{entries}</feed>").encode()


class FeedHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = b"User-agent: *\nAllow: /\n" if self.path == "/robots.txt" else feed_xml()
        self.send_response(200)
        self.send_header("Content-Type", "application/atom+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def build(path: Path, n: int, days: int) -> None:
    """N mentions over `days` days for brand Acme, indexed and scored, as if cron had run."""
    db = store.connect(path)
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    span = days * 86400
    cols = store.COLUMNS
    sql = store.INSERT_MENTION
    model, version = sentiment.MODEL, sentiment.VERSION
    collected = "2026-01-01T00:00:00Z"
    chunk = 50_000
    for start in range(0, n, chunk):
        rows, scores = [], []
        for i in range(start, min(n, start + chunk)):
            created = store.iso(end - dt.timedelta(seconds=span * (n - i) / n))
            text = TEXTS[i % len(TEXTS)]
            row = {"id": f"bench:{i:09d}", "source": "bench", "native_id": f"{i:09d}",
                   "kind": "post", "brand": "Acme", "target": "bench", "url": None,
                   "author": f"user{i % 9973}", "title": None, "body": text, "rating": None,
                   "lang": "en", "deleted": 0, "parent_id": None, "extra": None,
                   "created_at": created, "collected_at": collected, "first_seen_run": None,
                   "fingerprint": None}
            rows.append([row[c] for c in cols])
            label = "negative" if "twice" in text or "crash" in text or "slow" in text else (
                "positive")
            scores.append((row["id"], model, version, -0.5 if label == "negative" else 0.5,
                           label, 0, collected))
        with db.atomic():
            db.conn.executemany(sql, rows)
            db.conn.executemany(
                "INSERT INTO scores (mention_id, model, version, score, label, disagrees, "
                "scored_at) VALUES (?, ?, ?, ?, ?, ?, ?)", scores)
        print(f"  {path.name}: {min(n, start + chunk):,} rows", file=sys.stderr, flush=True)
    with db.atomic():
        db.execute("INSERT INTO mentions_fts (mentions_fts) VALUES ('rebuild')")
        db.execute("INSERT OR REPLACE INTO models VALUES (?, ?, 1, ?)", [model, version,
                                                                          collected])
        last = (collected, f"bench:{n - 1:09d}")
        store.save_facts(db, ("", ""), last)  # the score stage writes these with each score
        store.save_position(db, score_stage_key(), last)
        store.save_position(db, "publish", last)
    db.close()


def config_for(folder: Path, db: Path, url: str) -> Path:
    path = folder / f"{db.stem}.toml"
    path.write_text(f'''[earful]
database = "{db}"
[http]
min_delay_seconds = 0
[alerts]
outbox = "{folder / 'outbox'}"
[[brands]]
name = "Acme"
keywords = ["acme"]
[[brands.sources]]
type = "feed"
url = "{url}/feed.xml"
''')
    return path


def earful_run(config: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run([EARFUL, "run", "--config", str(config)], capture_output=True,
                            text=True, env={**os.environ, "EARFUL_CONFIG": ""})
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"earful run failed: {result.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--days", type=int, default=90,
                        help="history the mentions are spread over, ending now")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/earful-cron-bench"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    configs = {}
    for name, n in (("small", args.small), ("large", args.large)):
        db = args.dir / f"{name}-{n}-{args.days}d.db"
        if not db.exists():
            t = time.perf_counter()
            build(db, n, args.days)
            print(f"built {db} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        configs[name] = config_for(args.dir, db, url)
        earful_run(configs[name])  # first run stores the feed and catches detection up
        earful_run(configs[name])  # warm-up: from here on there is nothing new
    times: dict[str, list[float]] = {"small": [], "large": []}
    for _ in range(args.runs):
        for name in ("small", "large"):
            times[name].append(earful_run(configs[name]))
    ratios = [b / a for a, b in zip(times["small"], times["large"], strict=True)]
    print(json.dumps({
        "small_rows": args.small, "large_rows": args.large, "runs": args.runs,
        "small_median_s": round(statistics.median(times["small"]), 3),
        "large_median_s": round(statistics.median(times["large"]), 3),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min_max": [round(min(ratios), 3), round(max(ratios), 3)],
        "large_db_gb": round(sum(p.stat().st_size for p in args.dir.glob(
            f"large-{args.large}-{args.days}d.db*")) / 1e9, 2)}))
    server.shutdown()


if __name__ == "__main__":
    main()
