"""complaint_terms: what the complaints_this_week page reads, kept by the publish stage."""

from __future__ import annotations

import datetime as dt

import pytest

from earful import db as store
from earful import pipeline
from earful.complaints import refresh_complaint_terms
from tests.conftest import make_config
from tests.test_stages import demo_mentions

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def scored(tmp_path):
    config = make_config(tmp_path)
    db = store.connect(config.database)
    with db.atomic():
        store.save_mentions(db, "Larkspur", demo_mentions(NOW), run_id=1)
    pipeline.score(db, config, show_progress=False)
    yield db
    db.close()


def terms_of(db, brand="Larkspur"):
    return db.execute("SELECT rank, term, window_count, baseline_count, z, example_id, example "
                      "FROM complaint_terms WHERE brand = ? AND period = '7d' ORDER BY rank",
                      [brand]).fetchall()


def test_the_storm_words_top_the_list_with_a_negative_example_each(scored):
    db = scored
    assert refresh_complaint_terms(db, NOW) == 1
    rows = terms_of(db)
    top = [r[1] for r in rows[:10]]
    assert {"charged", "twice", "charged twice", "double charge", "refund"} & set(top), top
    assert not [t for t in (r[1] for r in rows) if "larkspur" in t]
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    since = store.iso(NOW - dt.timedelta(days=7))
    negatives = db.execute("SELECT count(*) FROM mention_sentiments WHERE brand = 'Larkspur' "
                           "AND label = 'negative' AND created_at >= ? AND created_at < ?",
                           [since, store.iso(NOW)]).fetchone()[0]
    period = db.execute("SELECT negatives, window_read, window_start, window_end "
                        "FROM complaint_periods WHERE brand = 'Larkspur'").fetchone()
    assert period == (negatives, negatives, since, store.iso(NOW))
    for _, term, count, _, z, example_id, example in rows:
        assert 2 <= count <= negatives and z > 0
        label, created_at, title, body = db.execute(
            "SELECT ms.label, m.created_at, m.title, m.body FROM mention_sentiments ms "
            "JOIN mentions m ON m.id = ms.mention_id WHERE m.id = ?", [example_id]).fetchone()
        assert label == "negative" and created_at >= since
        assert term.split(" ")[0] in f"{title or ''} {body}".lower()
        assert example and example in f"{title or ''}\n{body}"


def test_a_run_with_nothing_new_reads_no_mention_text(scored):
    db = scored
    refresh_complaint_terms(db, NOW)
    before = db.execute("SELECT * FROM complaint_periods").fetchall()
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        assert refresh_complaint_terms(db, NOW + dt.timedelta(minutes=15)) == 0
    finally:
        db.conn.set_trace_callback(None)
    # Only index counts: cost follows the window, not the history or the text.
    assert statements and not [s for s in statements if "JOIN mentions" in s]
    assert db.execute("SELECT * FROM complaint_periods").fetchall() == before


def test_a_sentiment_correction_shows_at_the_next_refresh_after_the_interval(scored):
    db = scored
    refresh_complaint_terms(db, NOW)
    rows = terms_of(db)
    example = rows[0][5]
    with db.atomic():
        db.execute("INSERT INTO labels (mention_id, label, labelled_by, labelled_at) "
                   "VALUES (?, 'positive', 'ana', ?)", [example, store.iso(NOW)])
    # Within the interval the page keeps its answer (and says when it was computed)...
    assert refresh_complaint_terms(db, NOW + dt.timedelta(minutes=10)) == 0
    # ...after it, the corrected mention is no longer among the negatives read.
    later = NOW + dt.timedelta(minutes=61)
    assert refresh_complaint_terms(db, later) == 1
    assert example not in {r[5] for r in terms_of(db)}
    negatives, computed_at = db.execute("SELECT negatives, computed_at FROM complaint_periods"
                                        ).fetchone()
    assert computed_at == store.iso(later)
    assert negatives == db.execute(
        "SELECT count(*) FROM mention_sentiments WHERE brand = 'Larkspur' AND label = "
        "'negative' AND created_at >= ? AND created_at < ?",
        [store.iso(later - dt.timedelta(days=7)), store.iso(later)]).fetchone()[0]


def test_brand_keywords_never_appear_and_a_quiet_brand_has_no_terms(scored):
    db = scored
    refresh_complaint_terms(db, NOW)
    first = terms_of(db)[0][1].split(" ")[0]
    # A keyword of the brand is left out, alone and inside phrases.
    db.execute("DELETE FROM complaint_periods")  # forget it: computed afresh
    refresh_complaint_terms(db, NOW, brand_words={"Larkspur": [first]})
    assert terms_of(db) and not [r[1] for r in terms_of(db) if first in r[1].split(" ")]
    # Two months later nothing is negative any more: no terms, and the page says 0 negatives.
    far = NOW + dt.timedelta(days=60)
    assert refresh_complaint_terms(db, far) == 1
    assert terms_of(db) == []
    assert db.execute("SELECT negatives, window_read FROM complaint_periods").fetchone() == (0, 0)


def recount(db):
    return db.execute(
        "SELECT brand, substr(created_at, 1, 13), count(*), sum(sentiment IS 'negative'), "
        "sum(mention_rowid), sum(CASE WHEN sentiment IS 'negative' THEN mention_rowid ELSE 0 "
        "END) FROM mention_facts GROUP BY 1, 2 ORDER BY 1, 2").fetchall()


DAYS = ("SELECT substr(created_at, 1, 10), brand, source, coalesce(sentiment, ''), status, "
        "count(*) FROM mention_facts GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5")
KEPT_DAYS = "SELECT * FROM fact_days WHERE mentions != 0 ORDER BY 1, 2, 3, 4, 5"
TOTALS = ("SELECT brand, source, coalesce(sentiment, ''), status, coalesce(rating, -1), "
          "count(*) FROM mention_facts GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5")
KEPT_TOTALS = "SELECT * FROM fact_totals WHERE mentions != 0 ORDER BY 1, 2, 3, 4, 5"


def test_the_kept_counts_stay_equal_to_a_recount_through_corrections(scored):
    db = scored
    kept = "SELECT * FROM fact_hours WHERE mentions != 0 ORDER BY brand, hour"
    assert db.execute(kept).fetchall() == recount(db) != []
    assert db.execute(KEPT_DAYS).fetchall() == db.execute(DAYS).fetchall() != []
    assert db.execute(KEPT_TOTALS).fetchall() == db.execute(TOTALS).fetchall()
    negative, positive = (db.execute(
        "SELECT mention_id FROM mention_sentiments WHERE label = ? LIMIT 1", [label]
    ).fetchone()[0] for label in ("negative", "positive"))
    with db.atomic():  # a person's corrections, both ways, then one taken back
        for mention_id, label in ((negative, "positive"), (positive, "negative")):
            db.execute("INSERT INTO labels (mention_id, label, labelled_by, labelled_at) "
                       "VALUES (?, ?, 'ana', ?)", [mention_id, label, store.iso(NOW)])
        db.execute("DELETE FROM labels WHERE mention_id = ?", [positive])
        db.execute("INSERT INTO triage (mention_id, status, updated_at) VALUES (?, 'resolved', ?)",
                   [negative, store.iso(NOW)])
    assert db.execute(kept).fetchall() == recount(db)
    assert db.execute(KEPT_DAYS).fetchall() == db.execute(DAYS).fetchall()
    assert db.execute(KEPT_TOTALS).fetchall() == db.execute(TOTALS).fetchall()
    with db.atomic():  # a mention moved in time, and one removed
        db.execute("UPDATE mentions SET created_at = '2026-01-01T00:30:00Z', rating = 4 "
                   "WHERE id = ?",
                   [positive])
        db.execute("DELETE FROM mention_facts WHERE mention_rowid = "
                   "(SELECT rowid FROM mentions WHERE id = ?)", [negative])
    assert db.execute(kept).fetchall() == recount(db)
    assert db.execute(KEPT_DAYS).fetchall() == db.execute(DAYS).fetchall()
    assert db.execute(KEPT_TOTALS).fetchall() == db.execute(TOTALS).fetchall()


def test_the_signature_counts_equal_a_direct_count_for_any_window(scored):
    from earful.complaints import _counts

    db = scored
    for hours, minutes in ((0, 10), (3, 7), (30, 59), (200, 0)):
        end = NOW - dt.timedelta(hours=hours, minutes=minutes)
        for length in (dt.timedelta(minutes=20), dt.timedelta(hours=5, seconds=13),
                       dt.timedelta(days=7)):
            start, stop = store.iso(end - length), store.iso(end)
            direct = db.execute(
                "SELECT count(*), coalesce(sum(sentiment IS 'negative'), 0), "
                "coalesce(sum(mention_rowid), 0), coalesce(sum(CASE WHEN sentiment IS "
                "'negative' THEN mention_rowid END), 0) FROM mention_facts WHERE brand = "
                "'Larkspur' AND created_at >= ? AND created_at < ?", [start, stop]).fetchone()
            assert _counts(db, "Larkspur", start, stop) == list(direct), (start, stop)
