"""Build a benchmark database: one million realistic mentions over a year, three brands.

A benchmark fixture, not the product's write path: rows go in with sqlite3 executemany into a
database created (and migrated) by earful.db.connect, then the side tables the pipeline keeps
(scores, daily_counts, buckets, episodes, source_runs, triage, labels) are filled in bulk.

    .venv/bin/python benchmarks/datasette/make_db.py /tmp/earful-bench.db --mentions 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from earful import db as store  # noqa: E402
from earful.complaints import refresh_complaint_terms  # noqa: E402
from earful.pipeline import score_stage_key  # noqa: E402

BRANDS = [("Larkspur", 0.6), ("Fernway", 0.3), ("Quillo", 0.1)]
SOURCES = [  # source, share, kinds, has rating
    ("reddit", 0.40, ("post", "comment", "comment"), False),
    ("hackernews", 0.08, ("story", "comment"), False),
    ("feed", 0.12, ("article",), False),
    ("trustpilot", 0.15, ("review",), True),
    ("appstore", 0.15, ("review",), True),
    ("schemaorg", 0.05, ("review",), True),
    ("css", 0.05, ("review",), True),
]
GOOD = ["love the new app", "support sorted it in minutes", "fast delivery", "great value",
        "the refund arrived quickly", "really easy to set up", "best in its class"]
BAD = ["charged twice after the update", "app crashes on login", "no reply from support",
       "refund still missing", "delivery two weeks late", "account locked for no reason",
       "the new pricing is a rip-off"]
FILLER = ("honestly I think the {b} team should know that {p}. I have used {b} for a while "
          "and {q}. Anyone else seeing this? Posted from my phone, sorry for typos.")
NEUTRAL = ["it works", "it is fine I guess", "nothing special", "as expected"]


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build(path: Path, total: int, days: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    if path.exists():
        path.unlink()
    db = store.connect(path)
    conn = db.conn
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = end - dt.timedelta(days=days)
    span = (end - start).total_seconds()
    columns = store.COLUMNS
    insert = (f"INSERT INTO mentions ({', '.join(columns)}) "
              f"VALUES ({', '.join('?' * len(columns))})")
    brand_names = [b for b, _ in BRANDS]
    brand_weights = [w for _, w in BRANDS]
    src_weights = [s[1] for s in SOURCES]
    # Storms: a few short windows per brand where most mentions are negative.
    storms = {b: sorted(start + dt.timedelta(seconds=rng.uniform(0, span)) for _ in range(6))
              for b in brand_names}
    t0 = time.perf_counter()
    batch, scores, n = [], [], 0
    created_sorted = sorted(rng.uniform(0, span) for _ in range(total))
    for i, offset in enumerate(created_sorted):
        brand = rng.choices(brand_names, brand_weights)[0]
        source, _, kinds, rated = rng.choices(SOURCES, src_weights)[0]
        kind = rng.choice(kinds)
        created = start + dt.timedelta(seconds=offset)
        in_storm = any(s <= created < s + dt.timedelta(hours=8) for s in storms[brand])
        r = rng.random()
        label = ("negative" if r < (0.7 if in_storm else 0.15) else
                 "neutral" if r < 0.55 else "positive")
        phrase = rng.choice(BAD if label == "negative" else GOOD if label == "positive"
                            else NEUTRAL)
        body = FILLER.format(b=brand, p=phrase, q=rng.choice(GOOD + BAD + NEUTRAL))
        rating = None
        if rated:
            rating = float(rng.choice([1, 2]) if label == "negative" else
                           rng.choice([4, 5]) if label == "positive" else 3)
        native = f"{source[:2]}{i:08d}"
        row = {
            "id": f"{source}:{native}", "source": source, "native_id": native, "kind": kind,
            "brand": brand, "target": f"{source}-{brand.lower()}",
            "url": f"https://{source}.example/{brand.lower()}/{native}",
            "author": f"user{rng.randrange(200_000)}",
            "title": phrase.capitalize() if kind in ("post", "story", "article", "review")
            else None,
            "body": body, "rating": rating, "lang": "en", "deleted": 0, "parent_id": None,
            "extra": None, "created_at": iso(created),
            "collected_at": iso(created + dt.timedelta(minutes=rng.randint(1, 30))),
            "first_seen_run": None, "fingerprint": None,
        }
        batch.append([row.get(c) for c in columns])
        score = {"negative": -0.6, "neutral": 0.0, "positive": 0.6}[label] + rng.uniform(-.3, .3)
        scores.append((row["id"], "vader", "bench", round(score, 4), label, round(score, 4),
                       None, 0, "en", row["collected_at"]))
        if len(batch) == 20_000:
            n += flush(conn, insert, batch, scores)
            batch, scores = [], []
    n += flush(conn, insert, batch, scores)
    print(f"mentions + scores: {n} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    t1 = time.perf_counter()
    conn.execute("INSERT INTO mentions_fts (rowid, title, body) "
                 "SELECT rowid, title, body FROM mentions")
    conn.commit()
    print(f"full-text index: {time.perf_counter() - t1:.0f} s", file=sys.stderr)
    rare_words(conn)
    side_tables(db, rng, start, end, storms)
    t2 = time.perf_counter()
    fill_facts(db)
    print(f"mention_facts: {time.perf_counter() - t2:.0f} s", file=sys.stderr)
    t3 = time.perf_counter()
    refresh_complaint_terms(db, end)  # what `earful publish` keeps for complaints_this_week
    print(f"complaint_terms: {time.perf_counter() - t3:.1f} s", file=sys.stderr)
    conn.execute("ANALYZE")
    conn.commit()
    db.close()
    print(f"total {time.perf_counter() - t0:.0f} s -> {path}", file=sys.stderr)


def rare_words(conn) -> None:
    """Words in few mentions, spread over the year, for the search box's other extreme:
    'zeppelin' in 20 mentions (0.002 %), 'warranty' in 2,000 (0.2 %). The generator's own
    words are all in 7 % or more. Run after the full-text index: the update trigger
    re-indexes the rows. On an older file: python -c "import sqlite3, make_db;
    make_db.rare_words(sqlite3.connect('earful.db'))" (from benchmarks/datasette)."""
    with conn:
        conn.execute("UPDATE mentions SET body = body || ' The zeppelin ad was odd.' "
                     "WHERE rowid % 50000 = 123")
        conn.execute("UPDATE mentions SET body = body || ' What about the warranty?' "
                     "WHERE rowid % 500 = 321")


def fill_facts(db) -> None:
    """Datasette's facet table, filled as the score stage fills it (earful.db.save_facts,
    here over every mention at once, after the side tables so labels and triage count):
    rows here bypass the score stage, and without this every mentions_view page was
    measured on an empty table."""
    with db.atomic():
        store.save_facts(db, ("", ""), ("\uffff", ""))
        # And where the score stage got to, as it saves it with the facts: the mentions
        # table's facets count what comes after it row by row (earful/datasette_plugin.py).
        last = db.execute("SELECT collected_at, id FROM mentions "
                          "ORDER BY collected_at DESC, id DESC LIMIT 1").fetchone()
        if last:
            store.save_position(db, score_stage_key(), tuple(last))


def flush(conn, insert, batch, scores) -> int:
    with conn:
        conn.executemany(insert, batch)
        conn.executemany("INSERT INTO scores (mention_id, model, version, score, label, "
                         "text_score, rating_score, disagrees, lang, scored_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", scores)
    return len(batch)


def side_tables(db, rng: random.Random, start: dt.datetime, end: dt.datetime,
                storms: dict[str, list[dt.datetime]]) -> None:
    conn = db.conn
    now = iso(end)
    with conn:
        conn.execute("INSERT INTO models (model, version, current, first_used_at) "
                     "VALUES ('vader', 'bench', 1, ?)", [iso(start)])
        # The pipeline keeps these incrementally; here one GROUP BY each fills them.
        conn.execute(
            "INSERT INTO daily_counts (brand, source, day, mentions, negatives, negative_share, "
            "avg_rating) SELECT m.brand, m.source, substr(m.created_at, 1, 10), count(*), "
            "sum(s.label = 'negative'), round(avg(s.label = 'negative'), 4), "
            "round(avg(m.rating), 2) FROM mentions m JOIN scores s ON s.mention_id = m.id "
            "GROUP BY 1, 2, 3")
        conn.execute(
            "INSERT INTO buckets (brand, series, bucket_at, n, y, expected) "
            "SELECT m.brand, 'all', substr(m.created_at, 1, 13) || ':00:00Z', count(*), "
            "sum(s.label = 'negative'), 0.15 * count(*) FROM mentions m "
            "JOIN scores s ON s.mention_id = m.id GROUP BY 1, 2, 3")
        for brand, moments in storms.items():
            for k, opened in enumerate(moments):
                opened = opened.replace(minute=0, second=0)
                is_open = k == len(moments) - 1 and end - opened < dt.timedelta(days=2)
                conn.execute(
                    "INSERT INTO episodes (id, brand, series, status, opened_at, closed_at, "
                    "rule, params, count, expected, share, baseline_share, statistic, "
                    "threshold, peak_statistic, peak_count, summary, updated_at) VALUES "
                    "(?, ?, 'all', ?, ?, ?, 'cusum', '{}', 30, 5.0, 0.7, 0.15, 9.1, 5.0, 11.0, "
                    "41, ?, ?)",
                    [f"{brand}/all/{iso(opened)}", brand, "open" if is_open else "closed",
                     iso(opened), None if is_open else iso(opened + dt.timedelta(hours=9)),
                     f"{brand}: negatives 6x usual", now])
        ids = [r[0] for r in conn.execute("SELECT id FROM mentions WHERE rowid % 100 = 7")]
        conn.executemany(
            "INSERT INTO triage (mention_id, status, owner, note, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(i, rng.choice(["new", "acknowledged", "resolved", "ignored"]),
              rng.choice(["ana", "ben", None]), None, now) for i in ids])
        conn.executemany(
            "INSERT INTO labels (mention_id, label, labelled_by, labelled_at) "
            "VALUES (?, ?, 'ana', ?)",
            [(i, rng.choice(["negative", "neutral", "positive"]), now) for i in ids[::3]])
        # A cron run every 15 minutes for the whole year, every target in each.
        targets = [(b, s[0], f"{s[0]}-{b.lower()}") for b, _ in BRANDS for s in SOURCES]
        moment, run_id, runs, source_runs = start, 0, [], []
        while moment < end:
            run_id += 1
            at = iso(moment)
            runs.append((run_id, "run", 1, at, at, "ok"))
            for brand, source, target in targets:
                failed = rng.random() < 0.02
                source_runs.append((run_id, brand, source, target, at, at, 1.2,
                                    "error" if failed else "ok", 20, 0 if failed else
                                    rng.randint(0, 12), 2,
                                    json.dumps({"503": 1}) if failed else None,
                                    "HTTP 503 from server" if failed else None))
            moment += dt.timedelta(minutes=15)
        conn.executemany("INSERT INTO runs (id, command, pid, started_at, finished_at, status) "
                         "VALUES (?, ?, ?, ?, ?, ?)", runs)
        conn.executemany(
            "INSERT INTO source_runs (run_id, brand, source, target, started_at, finished_at, "
            "duration_s, status, seen, new_rows, requests, http_errors, message) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", source_runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    build(args.path, args.mentions, args.days)


if __name__ == "__main__":
    main()
