"""Ingest benchmark: N realistic mentions through three write paths, each in a fresh database.

    python benchmarks/ingest/run.py --rows 1000000 --variant ours
    python benchmarks/ingest/run.py --rows 1000000 --variant all      # all three, one after another

Variants (same rows, same table schema):
  raw       sqlite3.executemany into mentions in one transaction, no full-text index (the limit)
  baseline  sqlite-utils upsert_all with FTS5 enabled by sqlite-utils' triggers (the plain way),
            given ours' commit size (one transaction per BATCH) and connection settings
  ours      earful.db.save_mentions in the collect stage's batches (new ids found first, FTS)
Then `ours` again on the same input ("rerun": nothing new). Rows are generated on the fly
(streaming) so peak memory shows whether a path holds the input.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from collectors.base import Mention  # noqa: E402
from earful import db as store  # noqa: E402
from earful import pipeline  # noqa: E402

WORDS = ("refund support billing sync app crash login great love slow update price team board "
         "calendar export android iphone notification task project broken fast easy help "
         "charged twice cancel subscription account password reset feature dashboard").split()
SOURCES = ("reddit", "hackernews", "feed", "trustpilot", "appstore")
BATCH = pipeline.BATCH  # the collect stage's transaction size


def mentions(n: int, seed: int = 1) -> Iterator[Mention]:
    """Realistic rows, cheaply: texts come from a pool drawn once, so the benchmark times
    the write paths rather than the random-number generator."""
    rng = random.Random(seed)
    pool = [rng.choices(WORDS, k=rng.randint(8, 60)) for _ in range(4096)]
    titles = [" ".join(words[:6]).capitalize() for words in pool]
    bodies = [" ".join(words) for words in pool]
    for i in range(n):
        source = SOURCES[i % len(SOURCES)]
        k = (i * 7919) % 4096
        review = source in ("trustpilot", "appstore")
        yield Mention(
            source=source, native_id=f"{i:08d}", kind="review" if review else "post",
            target=f"{source}-target",
            created_at=f"2026-10-{1 + (i * 28) // n:02d}T{k % 24:02d}:{k % 60:02d}:00Z",
            url=f"https://{source}.example/{i}", author=f"user{(i * 31) % 50000}",
            title=titles[k], body=bodies[k], rating=float(1 + k % 5) if review else None)


def batches(n: int) -> Iterator[list[Mention]]:
    batch: list[Mention] = []
    for mention in mentions(n):
        batch.append(mention)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def run_raw(path: Path, n: int) -> None:
    db = store.connect(path)
    db.execute("DROP TRIGGER IF EXISTS mentions_ai")  # the limit: no full-text index at all
    conn = db.conn
    cols = ("id", "source", "native_id", "kind", "brand", "target", "url", "author", "title",
            "body", "rating", "created_at", "collected_at", "deleted")
    sql = f"INSERT INTO mentions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    conn.execute("BEGIN")
    conn.executemany(sql, ((m.id, m.source, m.native_id, m.kind, "Acme", m.target, m.url,
                            m.author, m.title, m.body, m.rating, m.created_at,
                            "2026-11-01T00:00:00Z", 0) for m in mentions(n)))
    conn.execute("COMMIT")
    db.close()


def run_baseline(path: Path, n: int) -> None:
    import sqlite_utils

    db = sqlite_utils.Database(path)
    db.enable_wal()
    # The same settings as earful.db.connect gives ours: sqlite-utils' own are synchronous=FULL
    # (a sync per commit) and SQLite's 2 MB page cache.
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA cache_size = -65536")
    db.execute("PRAGMA wal_autocheckpoint = 10000")
    table = db["mentions"]
    first = True
    for batch in batches(n):
        rows = [{**m.as_row(), "brand": "Acme", "extra": None, "collected_at":
                 "2026-11-01T00:00:00Z"} for m in batch]
        # One transaction per batch, as ours: left alone, upsert_all commits each chunk of
        # at most ~58 rows (SQLite's 999-variable limit over 17 columns) by itself.
        with db.atomic():
            table.upsert_all(rows, pk="id")
        if first:
            table.enable_fts(["title", "body"], fts_version="FTS5", create_triggers=True)
            first = False
    db.close()


WRITE_SECONDS = [0.0]  # time inside the write path only, without generating the input


def run_ours(path: Path, n: int) -> None:
    db = store.connect(path)
    for batch in batches(n):
        start = time.perf_counter()
        with db.atomic():
            store.save_mentions(db, "Acme", batch, collected_at="2026-11-01T00:00:00Z")
        WRITE_SECONDS[0] += time.perf_counter() - start
    db.close()


VARIANTS = {"raw": run_raw, "baseline": run_baseline, "ours": run_ours}


def measure(variant: str, rows: int, path: Path) -> dict:
    start = time.perf_counter()
    VARIANTS[variant](path, rows)
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    conn = sqlite3.connect(path)
    stored = conn.execute("SELECT count(*) FROM mentions").fetchone()[0]
    searchable = None
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'mentions_fts'").fetchone():
        searchable = conn.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts "
                                  "MATCH 'refund'").fetchone()[0]
    conn.close()
    return {"variant": variant, "rows": rows, "stored": stored, "seconds": round(seconds, 3),
            "write_seconds": round(WRITE_SECONDS[0], 3) if variant == "ours" else None,
            "rows_per_s": round(rows / seconds), "db_mb": round(size / 1e6, 1),
            "fts_hits_refund": searchable,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--variant", choices=[*VARIANTS, "rerun", "all"], default="all")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a tmp dir)")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="earful-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.variant in VARIANTS:
        path = work / f"{args.variant}.db"
        for p in work.glob(path.name + "*"):
            p.unlink()
        print(json.dumps(measure(args.variant, args.rows, path)))
    elif args.variant == "rerun":  # the same input again into an existing `ours` database
        print(json.dumps({**measure("ours", args.rows, work / "ours.db"), "variant": "rerun"}))
    else:
        for variant in ("raw", "baseline", "ours", "rerun"):
            cmd = [sys.executable, __file__, "--rows", str(args.rows), "--variant", variant,
                   "--dir", str(work)]
            os.spawnv(os.P_WAIT, sys.executable, cmd)  # each in its own process: clean RSS


if __name__ == "__main__":
    main()
