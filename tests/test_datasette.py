"""What a marketer sees: metadata.yml matches the schema; a real `earful serve` answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from earful import db as store
from tests.conftest import ROOT, make_config
from tests.test_stages import demo_mentions

METADATA = yaml.safe_load((ROOT / "metadata.yml").read_text())


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    from earful import pipeline
    from earful.alerts import alert_stage

    # The canned queries ask about "the last 24 hours": the data must end now, not on NOW.
    now = dt.datetime.now(dt.UTC)
    tmp = tmp_path_factory.mktemp("ds")
    config = make_config(tmp)
    db = store.connect(config.database)
    with db.atomic():
        store.save_mentions(db, "Larkspur", demo_mentions(now), run_id=1)
    pipeline.score(db, config, show_progress=False)
    pipeline.detect(db, config, now=now)
    alert_stage(db, config)
    pipeline.publish(db, config, now)
    yield config, db
    db.close()


def test_metadata_names_only_tables_and_columns_that_exist(populated):
    _, db = populated
    database = METADATA["databases"]["earful"]
    names = set(db.table_names()) | set(db.view_names())
    for table, meta in database["tables"].items():
        assert table in names, f"metadata.yml describes missing table {table}"
        columns = {c.name for c in (db.table(table) if table in db.table_names()
                                    else db.view(table)).columns}
        for column in meta.get("columns", {}):
            assert column in columns, f"{table}.{column} in metadata.yml does not exist"
        for facet in meta.get("facets", []):
            assert facet in columns, f"facet {table}.{facet} does not exist"
        if "sort_desc" in meta:
            assert meta["sort_desc"] in columns


def test_every_user_table_is_described(populated):
    _, db = populated
    described = set(METADATA["databases"]["earful"]["tables"])
    internal = {t for t in db.table_names() if t.startswith("mentions_fts")}
    assert set(db.table_names()) - internal - described == set()


@pytest.mark.parametrize("name", sorted(
    n for n, q in METADATA["databases"]["earful"]["queries"].items() if not q.get("write")))
def test_canned_queries_run_on_real_rows(populated, name):
    _, db = populated
    sql = METADATA["databases"]["earful"]["queries"][name]["sql"]
    episode = db.execute("SELECT id FROM episodes LIMIT 1").fetchone()
    params = {"brand": "", "episode": episode[0] if episode else "", "q": "charged",
              "since": "", "until": ""}
    from datasette.utils import escape_fts

    db.conn.create_function("escape_fts", 1, escape_fts)  # Datasette provides it when serving
    rows = db.execute(sql, {k: v for k, v in params.items() if f":{k}" in sql}).fetchall()
    if name == "source_health":
        # No collector ran in this fixture, so no source to report; it is checked with real
        # runs by test_source_health_shows_last_success_and_last_error.
        assert rows == []
        return
    if name in ("open_episodes", "episode_evidence") and not episode:
        pytest.skip("no episode in the fixture")
    assert rows, f"{name} returned nothing on the demo data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_earful_serve_starts_a_real_datasette_on_localhost(populated, tmp_path):
    config, _ = populated
    port = free_port()
    earful = str(Path(sys.executable).parent / "earful")
    cfg_path = tmp_path / "serve.toml"
    cfg_path.write_text(f'[earful]\ndatabase = "{config.database}"\n[serve]\nport = {port}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    proc = subprocess.Popen([earful, "serve", "--config", str(cfg_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{base}/-/versions.json", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        with urllib.request.urlopen(f"{base}/earful/mentions.json?_shape=objects&_size=5",
                                    timeout=5) as resp:
            data = json.load(resp)
        assert len(data["rows"]) == 5
        assert data["rows"][0]["created_at"] >= data["rows"][-1]["created_at"]  # newest first
        with urllib.request.urlopen(f"{base}/-/metadata.json", timeout=5) as resp:
            assert json.load(resp)["title"].startswith("earful")
        with urllib.request.urlopen(f"{base}/earful/mentions.json?_search=charged&_size=1",
                                    timeout=5) as resp:
            assert json.load(resp)["filtered_table_rows_count"] > 0
        with urllib.request.urlopen(f"{base}/earful/negative_last_7d.json?brand=", timeout=5):
            pass
        with urllib.request.urlopen(f"{base}/-/settings.json", timeout=5) as resp:
            assert json.load(resp)["suggest_facets"] is False
        # Bound to loopback only.
        out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
        if out:
            listening = [line for line in out.splitlines() if f":{port} " in line]
            assert listening and all("127.0.0.1:" in line for line in listening), listening
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert f"http://127.0.0.1:{port}" in proc.stderr.read()


# --- the marketer's pages, through Datasette's own client on the real file ---------------
TEAM_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def team_hash():
    from datasette_auth_passwords.utils import hash_password

    return hash_password(TEAM_PASSWORD)


@pytest.fixture(scope="module")
def ds(populated, team_hash):
    from datasette.app import Datasette

    from earful.serve import SETTINGS

    config, db = populated
    # Source health needs runs: record one good and one failed run the way collect does.
    run_id = store.start_run(db, "run", os.getpid())
    with db.atomic():
        for status, message in (("ok", None), ("error", "HTTP 503 from reddit")):
            store.record_source_run(db, {
                "run_id": run_id, "brand": "Larkspur", "source": "reddit", "target": "search",
                "started_at": store.now_iso(), "finished_at": store.now_iso(),
                "status": status, "new_rows": 12 if status == "ok" else 0,
                "http_errors": {503: 1} if message else None, "message": message})
    store.finish_run(db, run_id, "partial")
    mp = pytest.MonkeyPatch()
    mp.setenv("EARFUL_TEAM_PASSWORD_HASH", team_hash)  # read by the plugin via $env
    settings = {k: (v == "on" if v in ("on", "off") else int(v)) for k, v in SETTINGS.items()}
    yield Datasette([str(config.database)], metadata=METADATA, settings=settings,
                    secret="test-secret")
    mp.undo()


def get(ds, path, **kwargs):
    return asyncio.run(ds.client.get(path, **kwargs))


def post(ds, path, **kwargs):
    return asyncio.run(ds.client.post(path, **kwargs))


def get_json(ds, path, **kwargs):
    response = get(ds, path, **kwargs)
    assert response.status_code == 200, (path, response.text[:500])
    return response.json()


def test_home_page_names_the_instance_and_links_the_questions(ds):
    html = get(ds, "/").text
    assert "earful — what people say about our brands" in html
    for link in ("/-/dashboards/negatives", "/earful/mentions_view", "/earful/negative_last_24h",
                 "/earful/open_episodes", "/earful/source_health"):
        assert f'href="{link}' in html


@pytest.mark.parametrize("page", ["mentions_view", "recent_mentions"])
def test_browse_pages_offer_the_fast_search_and_it_finds_the_words(ds, page):
    html = get(ds, f"/earful/{page}").text
    assert 'action="/earful/search_mentions"' in html and 'name="q"' in html
    rows = query_rows(ds, "search_mentions", q="charged", brand="")
    assert rows and all("charg" in (r["title"] + " " + r["body"]).lower() for r in rows)


def test_internal_tables_are_hidden(ds):
    html = get(ds, "/earful").text
    assert "mentions_view" in html and "episodes" in html
    for internal in ("cursors", "detector_states", "stage_positions"):
        assert f'href="/earful/{internal}"' not in html


def test_recent_mentions_is_the_last_30_days_with_facets_that_match_the_data(ds, populated):
    _, db = populated
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = get_json(ds, "/earful/recent_mentions.json?_shape=objects&_size=20")
    assert data["rows"][0]["created_at"] == db.execute(
        "SELECT max(created_at) FROM mentions").fetchone()[0]
    expected = db.execute("SELECT count(*) FROM mentions WHERE created_at >= ?",
                          [since]).fetchone()[0]
    older = db.execute("SELECT count(*) FROM mentions WHERE created_at < ?", [since]).fetchone()[0]
    assert older > 0, "the demo data must reach back past 30 days"
    assert abs(data["filtered_table_rows_count"] - expected) <= 2  # the window moves
    facets = data["facet_results"]
    assert {"brand", "source", "sentiment", "status", "rating"} <= set(facets)
    assert not data.get("facets_timed_out")
    sentiments = dict(db.execute("SELECT label, count(*) FROM mention_sentiments WHERE "
                                 "created_at >= ? GROUP BY label", [since]))
    got = {f["value"]: f["count"] for f in facets["sentiment"]["results"]}
    assert got.keys() == sentiments.keys()
    assert all(abs(got[k] - sentiments[k]) <= 2 for k in got)
    html = get(ds, "/").text
    assert 'href="/earful/recent_mentions"' in html and 'href="/earful/search_mentions"' in html


@pytest.mark.parametrize("column", ["brand", "source", "sentiment", "status", "rating"])
def test_every_mention_counts_by_each_facet_one_click_away(ds, populated, column):
    _, db = populated
    html = get(ds, "/earful/mentions_view").text
    assert f'href="?_facet={column}"' in html
    data = get_json(ds, f"/earful/mentions_view.json?_facet={column}&_size=0")
    got = {f["value"]: f["count"] for f in data["facet_results"][column]["results"]}
    sql = {"sentiment": "SELECT label, count(*) FROM mention_sentiments GROUP BY 1",
           "status": "SELECT coalesce(t.status, 'new'), count(*) FROM mentions m LEFT JOIN "
                     "triage t ON t.mention_id = m.id GROUP BY 1"}.get(
        column, f"SELECT {column}, count(*) FROM mentions GROUP BY 1")
    assert got == {k: v for k, v in db.execute(sql) if k is not None}


def test_mentions_view_newest_first_with_facets_that_match_the_data(ds, populated):
    _, db = populated
    data = get_json(ds, "/earful/mentions_view.json?_shape=objects&_size=20"
                        "&_facet=brand&_facet=source&_facet=sentiment&_facet=status")
    created = [r["created_at"] for r in data["rows"]]
    assert created == sorted(created, reverse=True)
    newest = db.execute("SELECT max(created_at) FROM mentions").fetchone()[0]
    assert created[0] == newest
    facets = data["facet_results"]
    assert {"brand", "source", "sentiment", "status"} <= set(facets)
    assert not data.get("facets_timed_out")
    expected = dict(db.execute("SELECT label, count(*) FROM mention_sentiments GROUP BY label"))
    assert {f["value"]: f["count"] for f in facets["sentiment"]["results"]} == expected
    sources = dict(db.execute("SELECT source, count(*) FROM mentions GROUP BY source"))
    assert {f["value"]: f["count"] for f in facets["source"]["results"]} == sources
    # Facet on sentiment then status: a marketer's "negatives nobody looked at".
    neg = get_json(ds, "/earful/mentions_view.json?sentiment=negative&status=new&_size=0")
    assert neg["filtered_table_rows_count"] == expected["negative"]


def test_each_mention_links_to_the_original(ds, populated):
    _, db = populated
    url = db.execute("SELECT url FROM mentions ORDER BY created_at DESC LIMIT 1").fetchone()[0]
    html = get(ds, "/earful/mentions_view").text
    assert f'<a href="{url}">' in html


@pytest.mark.parametrize("table", ["mentions", "mentions_view"])
def test_search_finds_words_in_titles_and_bodies(ds, populated, table):
    _, db = populated
    expected = db.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH "
                          "'\"charged\"'").fetchone()[0]
    assert expected > 0
    data = get_json(ds, f"/earful/{table}.json?_search=charged&_size=1")
    assert data["filtered_table_rows_count"] == expected


@pytest.mark.parametrize("term", ['"refund', "AND OR", "charged)", "NEAR(", "*", "body:x"])
def test_search_box_input_never_errors(ds, term):
    response = get(ds, "/earful/mentions_view?" + urllib.parse.urlencode({"_search": term}))
    assert response.status_code == 200
    assert "error" not in response.text.lower().split("<footer")[0].split("</h1>")[1][:2000]


READ_QUERIES = sorted(name for name, q in METADATA["databases"]["earful"]["queries"].items()
                      if not q.get("write"))


def query_rows(ds, name, **params):
    qs = urllib.parse.urlencode({**params, "_shape": "objects"})
    # Questions about the operation (source health) are for the signed-in team.
    team = METADATA["databases"]["earful"]["queries"][name].get("allow")
    data = get_json(ds, f"/earful/{name}.json?{qs}", cookies=sign_in(ds) if team else {})
    assert not data.get("truncated")
    return data["rows"]


def only_episode(db):
    row = db.execute("SELECT id, brand FROM episodes ORDER BY opened_at DESC LIMIT 1").fetchone()
    assert row, "the demo storm must open an episode"
    return row


@pytest.mark.parametrize("name", READ_QUERIES)
def test_every_canned_query_answers_on_real_rows(ds, populated, name):
    _, db = populated
    sql = METADATA["databases"]["earful"]["queries"][name]["sql"]
    params = {"brand": "Larkspur", "episode": only_episode(db)[0], "q": "charged",
              "since": "", "until": ""}
    rows = query_rows(ds, name, **{k: v for k, v in params.items() if f":{k}" in sql})
    assert rows, f"{name} returned nothing on the demo data"


def test_negative_queries_hold_only_negatives_of_the_window(ds, populated):
    _, db = populated
    rows = query_rows(ds, "negative_last_24h", brand="")
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = db.execute("SELECT count(*) FROM mention_sentiments WHERE label = 'negative' "
                          "AND created_at >= ?", [since]).fetchone()[0]
    assert abs(len(rows) - expected) <= 2  # the window moves while the test runs
    assert all(r["created_at"] >= since[:13] for r in rows)
    week = query_rows(ds, "negative_last_7d", brand="Larkspur")
    assert len(week) >= len(rows) and {r["brand"] for r in week} == {"Larkspur"}


def test_negatives_of_the_week_show_200_and_say_how_many_with_a_link_to_all(ds, populated):
    _, db = populated
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = db.execute("SELECT count(*) FROM mention_sentiments WHERE label = 'negative' "
                          "AND created_at >= ?", [since]).fetchone()[0]
    rows = query_rows(ds, "negative_last_7d", brand="")
    assert len(rows) == min(200, expected)
    assert {r["all_negatives"] for r in rows} <= set(range(expected - 2, expected + 1))
    created = [r["created_at"] for r in rows]
    assert created == sorted(created, reverse=True) and created[-1] >= since
    # The page links to every one of them, with counts.
    assert 'href="/earful/negatives_7d"' in get(ds, "/earful/negative_last_7d?brand=").text
    data = get_json(ds, "/earful/negatives_7d.json?_shape=objects&_size=100&_facet=brand"
                        "&_facet=source&_facet=status")
    assert abs(data["filtered_table_rows_count"] - expected) <= 2
    assert not data.get("facets_timed_out") and not data.get("truncated")
    assert {r["sentiment"] for r in data["rows"]} == {"negative"}
    sources = dict(db.execute("SELECT source, count(*) FROM mention_sentiments WHERE label = "
                              "'negative' AND created_at >= ? GROUP BY 1", [since]))
    got = {f["value"]: f["count"] for f in data["facet_results"]["source"]["results"]}
    assert got.keys() == sources.keys() and all(abs(got[k] - sources[k]) <= 2 for k in got)


def test_episode_evidence_is_the_episodes_negatives_worst_first(ds, populated):
    _, db = populated
    episode, brand = only_episode(db)
    rows = query_rows(ds, "episode_evidence", episode=episode)
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores)
    marks = ",".join("?" * len(rows))
    labels = {r[0] for r in db.execute(
        f"SELECT label FROM mention_sentiments WHERE mention_id IN ({marks})",
        [r["id"] for r in rows])}
    assert labels == {"negative"}
    text = " ".join((r["title"] + " " + r["body"]).lower() for r in rows)
    assert "charged" in text or "twice" in text


def test_open_episodes_lists_the_storm(ds, populated):
    _, db = populated
    episode, _ = only_episode(db)
    assert episode in {r["id"] for r in query_rows(ds, "open_episodes")}


def test_a_busy_week_shows_the_newest_200_negatives_and_counts_them_all(tmp_path):
    from datasette.app import Datasette

    from collectors.base import Mention
    from earful import pipeline

    config = make_config(tmp_path)
    db = store.connect(config.database)
    now = dt.datetime.now(dt.UTC)
    with db.atomic():
        store.save_mentions(db, "Larkspur", [Mention(
            source="reddit", native_id=f"n{i}", kind="post", target="demo",
            created_at=store.iso(now - dt.timedelta(minutes=20 * i + 1)),
            title="Charged twice", body="Terrible. I was charged twice and support is awful.",
            author=f"u{i}", url=f"https://demo.example/{i}") for i in range(260)], run_id=1)
    pipeline.score(db, config, show_progress=False)
    expected = db.execute("SELECT count(*) FROM mention_sentiments WHERE label = 'negative' "
                          "AND created_at >= ?", [store.iso(now - dt.timedelta(days=7))]
                          ).fetchone()[0]
    assert expected > 200, "the busy week must hold more negatives than one page"
    db.close()
    ds = Datasette([str(config.database)], metadata=METADATA)
    rows = query_rows(ds, "negative_last_7d", brand="Larkspur")
    assert len(rows) == 200 and {r["all_negatives"] for r in rows} == {expected}
    newest = sorted((r["created_at"] for r in rows), reverse=True)
    assert [r["created_at"] for r in rows] == newest
    assert get_json(ds, "/earful/negatives_7d.json?brand=Larkspur&_size=0"
                    )["filtered_table_rows_count"] == expected


def test_complaints_this_week_finds_the_storm_words(ds, populated):
    _, db = populated
    rows = query_rows(ds, "complaints_this_week", brand="Larkspur")
    terms = [r["complaint"] for r in rows]
    assert set(terms[:15]) & {"charged", "twice", "charged twice", "double charge", "refund"}, \
        terms
    assert "larkspur" not in terms and "that" not in terms
    # In words a marketer reads, the same numbers publish kept (most telling first).
    stored = db.execute("SELECT t.term, t.window_count, p.window_read FROM complaint_terms t "
                        "JOIN complaint_periods p USING (brand, period) WHERE t.brand = "
                        "'Larkspur' AND t.period = '7d' ORDER BY t.rank").fetchall()
    assert [(r["complaint"], r["this_week"]) for r in rows] == [
        (term, f"in {n} of {read} negative mentions ({int(100 * n / read + 0.5)}%)")  # half up
        for term, n, read in stored]
    assert all(r["usually"].startswith(("in ", "hardly ever")) and r["as_of"] for r in rows)
    assert not {"z", "usual_out_of", "rank"} & set(rows[0])
    # Each example is a negative mention of the week that has the word.
    for r in rows[:5]:
        label, text = db.execute(
            "SELECT ms.label, lower(coalesce(m.title, '') || ' ' || m.body) FROM mentions m "
            "JOIN mention_sentiments ms ON ms.mention_id = m.id WHERE m.id = ?",
            [json.loads(r["example"])["pk"]]).fetchone()
        assert label == "negative" and r["complaint"].split(" ")[-1] in text


def test_source_health_shows_last_success_and_last_error(ds):
    rows = query_rows(ds, "source_health")
    reddit = [r for r in rows if r["source"] == "reddit"]
    assert reddit and reddit[0]["last_success"] and reddit[0]["last_error"] == \
        "HTTP 503 from reddit"
    assert reddit[0]["errors_7d"] == 1


def test_ratings_trend_per_review_site(ds, populated):
    _, db = populated
    rows = query_rows(ds, "ratings_trend", brand="")
    rated = {r[0] for r in db.execute("SELECT DISTINCT source FROM mentions WHERE rating "
                                      "IS NOT NULL")}
    assert {r["site"] for r in rows} == rated
    assert all(0 <= r["avg_rating"] <= 5 for r in rows)


def test_search_mentions_shows_the_newest_matches_and_how_many_there_are(ds, populated):
    _, db = populated
    expected = db.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH "
                          "'\"charged\"'").fetchone()[0]
    assert expected > 0
    rows = query_rows(ds, "search_mentions", q="charged", brand="")
    assert len(rows) == min(expected, 100)
    assert {r["matches"] for r in rows} == {expected if expected <= 1000 else "more than 1,000"}
    assert all("charg" in (r["title"] + " " + r["body"]).lower() for r in rows)  # stemmed
    created = [r["created_at"] for r in rows]
    assert created == sorted(created, reverse=True)
    # The sentiment and status shown are the ones that count.
    sentiments = dict(db.execute("SELECT mention_id, label FROM mention_sentiments"))
    assert all(r["sentiment"] == sentiments[r["id"]] for r in rows)
    assert query_rows(ds, "search_mentions", q="charged", brand="Nobody") == []
    assert query_rows(ds, "search_mentions", q="", brand="") == []
    for term in ('"refund', "AND OR", "NEAR(", "*"):
        query_rows(ds, "search_mentions", q=term, brand="")  # never an error


def facts_match_the_joins(db) -> None:
    facts = db.execute("SELECT m.id, f.created_at, f.brand, f.source, f.rating, f.sentiment, "
                       "f.status FROM mention_facts f JOIN mentions m ON m.rowid = "
                       "f.mention_rowid ORDER BY 1").fetchall()
    # The same facts from the source tables: a person's label, else the current model's.
    joined = db.execute(
        "SELECT m.id, m.created_at, m.brand, m.source, m.rating, coalesce(l.label, s.label), "
        "coalesce(t.status, 'new') FROM mentions m "
        "LEFT JOIN models cur ON cur.current = 1 "
        "LEFT JOIN scores s ON s.mention_id = m.id AND s.model = cur.model "
        "AND s.version = cur.version LEFT JOIN labels l ON l.mention_id = m.id "
        "LEFT JOIN triage t ON t.mention_id = m.id "
        "WHERE m.id IN (SELECT mention_id FROM scores) ORDER BY 1").fetchall()
    assert facts == joined
    # mention_sentiments (what detection and alerts count) says the same.
    assert db.execute("SELECT mention_id, label FROM mention_sentiments ORDER BY 1").fetchall() \
        == [(r[0], r[5]) for r in joined]


def test_mention_facts_follow_every_change_a_user_or_the_pipeline_makes(tmp_path):
    from earful import pipeline

    now = dt.datetime.now(dt.UTC)
    config = make_config(tmp_path)
    db = store.connect(config.database)
    mentions = demo_mentions(now)
    with db.atomic():
        store.save_mentions(db, "Larkspur", mentions[: len(mentions) // 2], run_id=1)
    # Collected, not scored yet: the browse views show them once the score stage (the next
    # step of the same run) has written their facet row, with its sentiment.
    assert db.execute("SELECT count(*) FROM mention_facts").fetchone()[0] == 0
    pipeline.score(db, config, show_progress=False)
    facts_match_the_joins(db)
    with db.atomic():
        store.save_mentions(db, "Larkspur", mentions[len(mentions) // 2:], run_id=2)
        # Triaged and labelled by someone before the score stage reached it: kept.
        late = db.execute("SELECT id FROM mentions ORDER BY rowid DESC LIMIT 1").fetchone()[0]
        db.execute("INSERT INTO triage (mention_id, status, updated_at) VALUES (?, "
                   "'acknowledged', '2026-01-01T00:00:00Z')", [late])
        db.execute("INSERT INTO labels (mention_id, label, labelled_at) VALUES (?, 'negative', "
                   "'2026-01-01T00:00:00Z')", [late])
    pipeline.score(db, config, show_progress=False)
    facts_match_the_joins(db)
    assert db.execute("SELECT f.status, f.sentiment FROM mention_facts f JOIN mentions m ON "
                      "m.rowid = f.mention_rowid WHERE m.id = ?", [late]).fetchone() == (
                          "acknowledged", "negative")
    assert db.execute("SELECT count(*) FROM mention_facts").fetchone()[0] == len(mentions)
    with db.atomic():
        db.execute("DELETE FROM labels")
        db.execute("DELETE FROM triage")
    ids = [r[0] for r in db.execute("SELECT id FROM mentions ORDER BY rowid LIMIT 3")]
    with db.atomic():
        db.execute("INSERT INTO labels (mention_id, label, labelled_at) VALUES (?, 'positive', "
                   "'2026-01-01T00:00:00Z')", [ids[0]])
        db.execute("INSERT INTO triage (mention_id, status, updated_at) VALUES (?, 'resolved', "
                   "'2026-01-01T00:00:00Z')", [ids[1]])
        db.execute("UPDATE triage SET status = 'ignored' WHERE mention_id = ?", [ids[1]])
        db.execute("UPDATE mentions SET rating = 1 WHERE id = ?", [ids[2]])
    facts_match_the_joins(db)
    with db.atomic():
        db.execute("DELETE FROM labels")
        db.execute("DELETE FROM triage")
    facts_match_the_joins(db)
    # A new current model version: every sentiment follows the (missing) new scores.
    with db.atomic():
        db.execute("UPDATE models SET current = 0")
        db.execute("INSERT INTO models (model, version, current, first_used_at) "
                   "VALUES ('other', '9', 1, '2026-01-01T00:00:00Z')")
    facts_match_the_joins(db)
    assert db.execute("SELECT count(*) FROM mention_facts WHERE sentiment IS NOT NULL"
                      ).fetchone()[0] == 0
    with db.atomic():
        db.execute("DELETE FROM models WHERE model = 'other'")
        db.execute("UPDATE models SET current = 1")
    facts_match_the_joins(db)
    assert db.execute("SELECT count(*) FROM mention_facts WHERE sentiment IS NOT NULL"
                      ).fetchone()[0] > 0
    db.close()


def test_canned_queries_report_truncation_instead_of_hiding_it(populated):
    # No canned query cuts its own rows: past max_returned_rows Datasette says so.
    from datasette.app import Datasette

    config, _ = populated
    small = Datasette([str(config.database)], metadata=METADATA,
                      settings={"max_returned_rows": 3})
    data = get_json(small, "/earful/negative_last_24h.json?brand=")
    assert data["truncated"] is True
    assert "more than 3 rows" in get(small, "/earful/negative_last_24h?brand=").text


# --- charts -------------------------------------------------------------------------------
DASHBOARD = METADATA["plugins"]["datasette-dashboards"]["negatives"]


def chart_rows(ds, slug, **filters):
    from datasette_dashboards import replace_opts_in_query

    sql = replace_opts_in_query(DASHBOARD["charts"][slug]["query"], filters)
    data = get_json(ds, "/earful.json?" + urllib.parse.urlencode(
        {"sql": sql, **filters, "_shape": "objects"}))
    return data


@pytest.mark.parametrize("slug", sorted(DASHBOARD["charts"]))
@pytest.mark.parametrize("days", ["90", "730"])
def test_every_chart_has_data_and_is_never_truncated(ds, slug, days):
    data = chart_rows(ds, slug, days=days, brand="Larkspur")
    assert data["rows"], slug
    assert data["truncated"] is False


def test_charts_mark_the_episode(ds, populated):
    _, db = populated
    _, brand = only_episode(db)
    for slug in ("negatives-per-day", "negative-share", "negatives-per-hour"):
        rows = chart_rows(ds, slug, days="30", brand=brand)["rows"]
        assert [r for r in rows if r["kind"] == "episode"], slug


def test_daily_chart_counts_match_the_mentions(ds, populated):
    _, db = populated
    rows = chart_rows(ds, "negatives-per-day", days="90")["rows"]
    charted = sum(r["negatives"] for r in rows if r["kind"] == "count")
    since = (dt.date.today() - dt.timedelta(days=90)).isoformat()
    expected = db.execute("SELECT count(*) FROM mention_sentiments WHERE label = 'negative' "
                          "AND created_at >= ?", [since]).fetchone()[0]
    assert charted == expected


def test_dashboard_page_loads_its_scripts_locally(ds):
    response = get(ds, "/-/dashboards/negatives?days=90")
    assert response.status_code == 200
    html = response.text
    for slug in DASHBOARD["charts"]:
        assert f'id="chart-{slug}"' in html
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    styles = re.findall(r'<link[^>]+href="([^"]+)"', html)
    assert any("vega-lite" in s for s in scripts)
    assert not [u for u in scripts + styles if u.startswith(("http:", "https:", "//"))]
    for url in scripts:
        assert get(ds, url).status_code == 200, url


# --- triage from the browser --------------------------------------------------------------
def sign_in(ds, password=TEAM_PASSWORD) -> dict[str, str]:
    response = post(ds, "/-/login", data={"username": "team", "password": password})
    return {"ds_actor": response.cookies["ds_actor"]} if "ds_actor" in response.cookies else {}


def form_post(ds, path, data, cookies):
    """Post a canned-query form the way a browser does: its CSRF token from the page."""
    page = get(ds, path, cookies=cookies)
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    cookies = {**cookies, "ds_csrftoken": page.cookies.get("ds_csrftoken", "")}
    return post(ds, path, data={**data, "csrftoken": token.group(1) if token else ""},
                cookies=cookies)


def newest_mention(db) -> str:
    return db.execute("SELECT id FROM mentions ORDER BY created_at DESC LIMIT 1").fetchone()[0]


def test_wrong_password_signs_nobody_in(ds):
    assert sign_in(ds, "guess") == {}


@pytest.mark.parametrize("query", ["set_triage", "set_sentiment"])
def test_anonymous_visitors_cannot_write(ds, populated, query):
    _, db = populated
    mention = newest_mention(db)
    before = db.execute("SELECT count(*) FROM triage").fetchone()[0], \
        db.execute("SELECT count(*) FROM labels").fetchone()[0]
    assert get(ds, f"/earful/{query}").status_code == 403
    data = {"mention_id": mention, "status": "resolved", "label": "positive"}
    assert form_post(ds, f"/earful/{query}", data, {}).status_code == 403
    assert post(ds, f"/earful/{query}", data=data).status_code == 403
    assert (db.execute("SELECT count(*) FROM triage").fetchone()[0],
            db.execute("SELECT count(*) FROM labels").fetchone()[0]) == before


def test_signed_in_team_member_triages_a_mention(ds, populated):
    _, db = populated
    cookies = sign_in(ds)
    assert cookies
    mention = newest_mention(db)
    response = form_post(ds, "/earful/set_triage", {"mention_id": mention,
                         "status": "acknowledged", "owner": "ana", "note": "called back"},
                         cookies)
    assert response.status_code == 302
    row = db.execute("SELECT status, owner, note, updated_by FROM triage WHERE mention_id = ?",
                     [mention]).fetchone()
    assert row == ("acknowledged", "ana", "called back", "team")
    # Empty owner and note keep what was there; the status moves on.
    form_post(ds, "/earful/set_triage", {"mention_id": mention, "status": "resolved",
                                         "owner": "", "note": ""}, cookies)
    assert db.execute("SELECT status, owner, note FROM triage WHERE mention_id = ?",
                      [mention]).fetchone() == ("resolved", "ana", "called back")
    view = get_json(ds, "/earful/mentions_view.json?_shape=objects&status=resolved")
    assert [r["id"] for r in view["rows"]] == [mention]


def test_signed_in_team_member_corrects_a_sentiment(ds, populated):
    _, db = populated
    cookies = sign_in(ds)
    mention = db.execute("SELECT mention_id FROM mention_sentiments WHERE label = 'negative' "
                         "ORDER BY created_at DESC LIMIT 1").fetchone()[0]
    form_post(ds, "/earful/set_sentiment", {"mention_id": mention, "label": "neutral"}, cookies)
    assert db.execute("SELECT label, human_label FROM mention_sentiments WHERE mention_id = ?",
                      [mention]).fetchone() == ("neutral", "neutral")
    assert db.execute("SELECT labelled_by FROM labels WHERE mention_id = ?",
                      [mention]).fetchone() == ("team",)


def test_a_write_without_the_csrf_token_is_refused(ds, populated):
    _, db = populated
    cookies = sign_in(ds)
    mention = newest_mention(db)
    response = post(ds, "/earful/set_triage", data={"mention_id": mention, "status": "ignored"},
                    cookies=cookies)
    assert response.status_code == 403
    assert db.execute("SELECT status FROM triage WHERE mention_id = ?",
                      [mention]).fetchone() != ("ignored",)


@pytest.mark.parametrize("data, error", [
    ({"mention_id": "nope:1", "status": "new"}, "no mention with that id"),
    ({"status": "done"}, "CHECK constraint failed"),
])
def test_bad_triage_input_is_refused_with_a_message(ds, populated, data, error):
    _, db = populated
    cookies = sign_in(ds)
    data = {"mention_id": newest_mention(db), "owner": "", "note": "", **data}
    before = db.execute("SELECT count(*), group_concat(status) FROM triage").fetchone()
    response = form_post(ds, "/earful/set_triage", data, cookies)
    follow = get(ds, response.headers["location"], cookies={**cookies, **dict(response.cookies)})
    assert error in follow.text
    assert db.execute("SELECT count(*), group_concat(status) FROM triage").fetchone() == before


def test_every_column_of_every_visible_table_is_described(populated):
    _, db = populated
    tables = METADATA["databases"]["earful"]["tables"]
    for name in db.table_names() + db.view_names():
        meta = tables.get(name, {})
        if name.startswith("mentions_fts") or meta.get("hidden"):
            continue
        obj = db.table(name) if name in db.table_names() else db.view(name)
        missing = {c.name for c in obj.columns} - set(meta.get("columns", {}))
        assert not missing, f"{name}: describe {sorted(missing)} in metadata.yml"


# --- Datasette's own search box: fast at a million mentions (earful/datasette_plugin.py) --
def heading(html: str) -> str:
    """The line above the rows: "59 rows where search matches "charged" sorted by ..."."""
    import html as html_lib

    found = re.search(r"<h3>(.*?)</h3>", html, re.S)
    return html_lib.unescape(" ".join(found.group(1).split())) if found else ""


def shown_dates(html: str) -> list[str]:
    return re.findall(r'<td class="col-created_at type-str">([^<]*)</td>', html)


def matching_dates(db, word: str, where: str = "1") -> list[str]:
    return [r[0] for r in db.execute(
        f"SELECT created_at FROM mentions WHERE rowid IN (SELECT rowid FROM mentions_fts "
        f"WHERE mentions_fts MATCH ?) AND {where} ORDER BY created_at DESC", [f'"{word}"'])]


@pytest.mark.parametrize("table", ["mentions", "mentions_view"])
@pytest.mark.parametrize("word", ["charged", "the", "larkspur"])  # a few, half, every one
def test_search_box_shows_the_newest_matches_and_how_many(ds, populated, table, word):
    _, db = populated
    expected = matching_dates(db, word)
    assert 0 < len(expected) <= db.execute("SELECT count(*) FROM mentions").fetchone()[0]
    html = get(ds, f"/earful/{table}?_search={word}").text
    said = f'{len(expected):,} rows where search matches "{word}" sorted by created_at descending'
    assert heading(html) == said
    assert said.replace('"', "&#34;") in html.split("</title>")[0]
    assert shown_dates(html) == expected[:50]
    assert "_nocount" not in html  # no link or form on the page carries the plugin's switch
    if table == "mentions_view":  # the next page goes on where this one stopped
        next_url = re.search(r'<a href="([^"]*_next=[^"]*)">Next page</a>', html).group(1)
        second = get(ds, next_url.replace("&amp;", "&").replace("http://localhost", "")).text
        assert shown_dates(second) == expected[50:100]
        assert heading(second) == said


def test_search_with_a_filter_counts_those_rows_and_stops_at_1000(ds, populated):
    _, db = populated
    few = matching_dates(db, "charged", "source = 'reddit'")
    assert 0 < len(few) < len(matching_dates(db, "charged"))
    html = get(ds, "/earful/mentions_view?_search=charged&source=reddit").text
    assert heading(html) == (f'{len(few):,} rows where search matches "charged" and '
                             f'source = "reddit" sorted by created_at descending')
    assert shown_dates(html) == few[:50]
    many = matching_dates(db, "larkspur", "deleted = 0")
    assert len(many) > 1000
    html = get(ds, "/earful/mentions_view?_search=larkspur&deleted=0").text
    assert heading(html) == ('more than 1,000 rows where search matches "larkspur" and '
                             'deleted = 0 sorted by created_at descending')
    assert shown_dates(html) == many[:50]


def traced_sql(ds, path: str) -> list[str]:
    import html as html_lib

    text = html_lib.unescape(get(ds, path + "&_trace=1").text)
    return re.findall(r'"sql": "((?:[^"\\]|\\.)*)"', text)


def test_the_search_page_never_counts_every_match(populated):
    from datasette.app import Datasette

    config, db = populated
    tracing = Datasette([str(config.database)], metadata=METADATA,
                        settings={"trace_debug": True})
    count = "select count(*) from mentions_view"
    # Without a search Datasette counts the rows (cheap); with one, not every match.
    assert any(s.startswith(count) for s in traced_sql(tracing, "/earful/mentions_view?_size=1"))
    for word in ("the", "charged"):
        sql = traced_sql(tracing, f"/earful/mentions_view?_search={word}")
        assert not any(s.startswith(count) for s in sql), sql
        assert any(s.startswith("select count(*) from mentions_fts") for s in sql)
    # The JSON keeps Datasette's exact count, for scripts.
    data = get_json(tracing, "/earful/mentions_view.json?_search=the&_size=1")
    assert data["filtered_table_rows_count"] == len(matching_dates(db, "the"))


def with_and_without_plugin(fetch):
    """fetch() with earful's Datasette plugin registered, then with it unregistered."""
    from datasette.plugins import pm

    with_plugin = fetch()
    plugin = pm.unregister(name="earful")
    assert plugin is not None
    try:
        return with_plugin, fetch()
    finally:
        pm.register(plugin, name="earful")


# (Not / or /earful: their table counts have a time limit, so two renders may differ.)
@pytest.mark.parametrize("path", [
    "/earful/mentions_view", "/earful/mentions?_facet=brand",
    "/earful/recent_mentions", "/earful/negatives_7d", "/earful/mentions_view?_search=",
    "/earful/mentions/" + urllib.parse.quote("x"), "/earful/search_mentions?q=charged&brand="])
def test_pages_without_a_search_are_what_datasette_alone_shows(populated, path):
    from datasette.app import Datasette

    config, _ = populated

    def fetch() -> tuple[int, bytes]:
        fresh = Datasette([str(config.database)], metadata=METADATA, secret="s")
        response = get(fresh, path)
        # Only the footer's "Queries took 12.3ms" may differ.
        return response.status_code, re.sub(rb"Queries took [0-9.]+ms", b"", response.content)

    with_plugin, alone = with_and_without_plugin(fetch)
    assert with_plugin == alone


@pytest.mark.parametrize("table", ["mentions", "mentions_view"])
@pytest.mark.parametrize("word", ["charged", "the", "larkspur"])
def test_search_finds_the_same_rows_as_datasette_alone(populated, table, word):
    from datasette.app import Datasette

    config, _ = populated
    queries = [f"_search={word}", f"_search={word}&_nocount=1", f"_search={word}&brand=Larkspur",
               f"_search_body={word}", f"_search={word}&_sort=created_at"]

    def fetch() -> list:
        fresh = Datasette([str(config.database)], metadata=METADATA)
        out = []
        for query in queries:
            data = get_json(fresh, f"/earful/{table}.json?{query}&_shape=objects&_size=100")
            # Rows written the same second may come in either order, in Datasette too.
            out.append((data["filtered_table_rows_count"],
                        [r["created_at"] for r in data["rows"]],
                        sorted((r["created_at"], r["id"]) for r in data["rows"])))
        return out

    with_plugin, alone = with_and_without_plugin(fetch)
    assert with_plugin == alone


@pytest.mark.parametrize("table", ["mentions", "mentions_view"])
@pytest.mark.parametrize("query", ['_search="refund', "_search=AND OR", "_search=NEAR(",
                                   "_search=*", '_search="refund&brand=Larkspur',
                                   "_search=AND OR&source=reddit", "_search_body=NEAR("])
def test_search_box_input_never_errors_on_either_table(ds, table, query):
    path = f"/earful/{table}?" + urllib.parse.quote(query, safe="=&_")
    response = get(ds, path)
    assert response.status_code == 200
    assert "rows where search" in heading(response.text)
