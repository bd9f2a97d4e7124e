"""Facets of the browse views answered from fact_days (earful/datasette_plugin.py): the same
counts Datasette's own GROUP BY gives, through its real app on a real file."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import shutil
import urllib.parse

import pytest
import yaml

from earful import db as store
from earful import pipeline
from tests.conftest import ROOT, make_config
from tests.test_stages import demo_mentions

METADATA = yaml.safe_load((ROOT / "metadata.yml").read_text())


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    now = dt.datetime.now(dt.UTC)  # the views' windows end now
    config = make_config(tmp_path_factory.mktemp("facets"))
    db = store.connect(config.database)
    with db.atomic():
        store.save_mentions(db, "Larkspur", demo_mentions(now), run_id=1)
        # Mentions from the first day of the 30-day window, before and after its bound.
        for hours in (30 * 24 - 2, 30 * 24 + 2, 7 * 24 - 1, 7 * 24 + 1):
            store.save_mentions(db, "Quillo", [
                dataclasses.replace(m, native_id=f"q{hours}-{m.native_id}")
                for m in demo_mentions(now - dt.timedelta(hours=hours))[-3:]], run_id=1)
    pipeline.score(db, config, show_progress=False)
    with db.atomic():  # collected after the score stage ran: in mentions, not yet counted
        store.save_mentions(db, "Fernway", [
            dataclasses.replace(m, native_id=f"late-{m.native_id}")
            for m in demo_mentions(now)[:4]], run_id=2)
    ids = [r[0] for r in db.execute("SELECT id FROM mentions ORDER BY rowid LIMIT 5")]
    with db.atomic():
        for mention_id in ids:
            db.execute("INSERT INTO triage (mention_id, status, updated_at) "
                       "VALUES (?, 'resolved', ?)", [mention_id, store.now_iso()])
    db.close()
    return config.database


def facets(path, page):
    from datasette.app import Datasette

    from earful.serve import SETTINGS

    settings = {k: (v == "on" if v in ("on", "off") else int(v)) for k, v in SETTINGS.items()}
    ds = Datasette([str(path)], metadata=METADATA, settings=settings)
    response = asyncio.run(ds.client.get(f"/earful/{page}"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert "These facets timed out" not in asyncio.run(
        ds.client.get(f"/earful/{page.replace('.json', '', 1)}")).text
    return {name: {r["value"]: r["count"] for r in facet["results"]}
            for name, facet in data["facet_results"].items()}


def grouped(path, view, column, filters):
    db = store.connect(path)
    where = "".join(f" AND {k} = ?" for k in filters)
    rows = db.execute(f"SELECT {column}, count(*) FROM {view} WHERE {column} IS NOT NULL"
                      f"{where} GROUP BY 1", list(filters.values())).fetchall()
    db.close()
    return dict(rows)


@pytest.mark.parametrize(("view", "filters"), [
    ("mentions", {}),
    ("mentions", {"source": "reddit"}),
    ("mentions_view", {}),
    ("mentions_view", {"sentiment": "negative"}),
    ("recent_mentions", {}),
    ("recent_mentions", {"brand": "Quillo", "sentiment": "negative"}),
    ("negatives_7d", {"status": "new"}),
])
def test_each_facet_counts_what_the_view_holds(database, view, filters):
    columns = {"mentions": ("brand", "source", "rating"), "mentions_view": (
        "brand", "source", "sentiment", "status", "rating")}.get(
        view, ("brand", "source", "sentiment", "status"))
    query = urllib.parse.urlencode([*filters.items(), *(("_facet", c) for c in columns)])
    shown = facets(database, f"{view}.json?{query}")
    for column in columns:
        expected = grouped(database, view, column, filters)
        assert shown[column] == expected, column
    if view != "negatives_7d":  # (Quillo's few mentions need not be negative)
        assert shown["brand"].get("Quillo")  # the window's first day counted, to the second
    if view == "mentions" and not filters:
        assert shown["brand"].get("Fernway") == 4  # not scored yet, counted all the same


def test_the_facet_reads_the_counts_not_the_rows(database, tmp_path):
    # A count that is in fact_days and nowhere else shows: the page summed the table.
    copy = tmp_path / "earful.db"
    shutil.copy(database, copy)
    db = store.connect(copy)
    with db.atomic():
        db.execute("INSERT INTO fact_totals VALUES ('Ghost', 'reddit', 'positive', 'new', -1, 7)")
    db.close()
    assert facets(copy, "mentions_view.json?_facet=brand")["brand"]["Ghost"] == 7
    assert facets(copy, "mentions.json?_facet=brand")["brand"]["Ghost"] == 7
    # With a filter it cannot count (a search), Datasette's own query answers.
    assert "Ghost" not in facets(copy, "mentions_view.json?_facet=brand&_search=refund"
                                 ).get("brand", {})


@pytest.mark.parametrize("word", ["refund", "charged"])
def test_a_search_facet_counts_the_matches(database, word):
    shown = facets(database, f"mentions_view.json?_search={word}&_facet=brand&_facet=sentiment")
    db = store.connect(database)
    for column in ("brand", "sentiment"):
        expected = dict(db.execute(
            f"SELECT {column}, count(*) FROM mentions_view WHERE rowid IN (SELECT rowid FROM "
            f"mentions_fts WHERE mentions_fts MATCH ?) GROUP BY 1", [word]).fetchall())
        assert shown[column] == expected and expected, column
    db.close()
