"""The marketer's pages through Datasette's own client on a real file (earful/datasette_ui.py,
earful/templates, metadata.yml): answers without SQL, evidence that matches the email,
triage that returns to the page, corrections that win, competitors never alerted on."""

from __future__ import annotations

import asyncio
import datetime as dt
import html as html_lib
import re
import urllib.parse

import pytest
import yaml
from datasette.utils import tilde_encode

from earful import alerts
from earful import db as store
from earful.datasette_ui import link_cell, safe_next
from tests.conftest import ROOT
from tests.ui_data import COMPETITOR, build

METADATA = yaml.safe_load((ROOT / "metadata.yml").read_text())
QUERIES = METADATA["databases"]["earful"]["queries"]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    config, db = build(tmp_path_factory.mktemp("ui"), dt.datetime.now(dt.UTC))
    yield config, db
    db.close()


@pytest.fixture(scope="module")
def ds(site):
    from datasette.app import Datasette
    from datasette_auth_passwords.utils import hash_password

    config, _ = site
    mp = pytest.MonkeyPatch()
    mp.setenv("EARFUL_TEAM_PASSWORD_HASH", hash_password(PASSWORD))
    yield Datasette([str(config.database)], metadata=METADATA, secret="ui-test")
    mp.undo()


def get(ds, path, **kwargs):
    return asyncio.run(ds.client.get(path, **kwargs))


def post(ds, path, **kwargs):
    return asyncio.run(ds.client.post(path, **kwargs))


def signed_in(ds) -> dict[str, str]:
    return {"ds_actor": ds.sign({"a": {"id": "team", "role": "team"}}, "actor")}


def form_post(ds, path: str, data: dict, cookies: dict | None = None):
    """POST a form the way a browser does: with the CSRF token its page carried."""
    page = get(ds, "/-/login", cookies=cookies or {})
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    jar = {**(cookies or {}), "ds_csrftoken": page.cookies.get("ds_csrftoken")}
    return post(ds, path, data={**data, "csrftoken": token}, cookies=jar)


def a_negative_mention(db) -> str:
    return db.execute("SELECT m.id FROM mention_facts f JOIN mentions m ON m.rowid = "
                      "f.mention_rowid WHERE f.sentiment = 'negative' AND f.status = 'new' "
                      "AND f.brand = 'Larkspur' ORDER BY f.created_at DESC LIMIT 1"
                      ).fetchone()[0]


@pytest.mark.parametrize("name", sorted(n for n, q in QUERIES.items() if not q.get("write")))
def test_canned_questions_show_answers_not_sql(ds, site, name):
    _, db = site
    assert QUERIES[name].get("hide_sql") is True
    episode = db.execute("SELECT id FROM episodes ORDER BY opened_at DESC").fetchone()[0]
    params = {"brand": "", "q": "refund", "episode": episode}
    qs = urllib.parse.urlencode({k: v for k, v in params.items()
                                 if f":{k}" in QUERIES[name]["sql"]})
    # A team-only question (source health) is read signed in, as the team reads it.
    cookies = signed_in(ds) if QUERIES[name].get("allow") else {}
    html = get(ds, f"/earful/{name}?{qs}", cookies=cookies).text
    assert 'id="sql-query"' not in html and 'id="sql-editor"' not in html
    assert "Custom SQL query" not in html and "Run SQL" not in html
    assert QUERIES[name]["title"] in html_lib.unescape(html.split("</title>")[0])
    words = re.sub(r"<[^>]+>", " ", html.split("<section")[1])
    assert not re.search(r"\bselect\b[^.]*\bfrom\b", words, re.I), name


def test_episode_windows_are_the_windows_the_emails_counted(site):
    config, db = site
    sent = db.execute("SELECT * FROM alerts WHERE kind IN ('open', 'escalate', 'close')")
    names = [c[0] for c in sent.description]
    checked = 0
    for row in sent.fetchall():
        alert = dict(zip(names, row, strict=True))
        episode = alerts.rows(db, "SELECT * FROM episodes WHERE id = ?",
                              [alert["episode_id"]])[0]
        window = db.execute("SELECT alert_id, since, until FROM episode_windows WHERE "
                            "episode_id = ?", [episode["id"]]).fetchone()
        if window[0] == alert["id"]:
            assert window[1:] == alerts.evidence_window(db, config, alert, episode)
            checked += 1
    assert checked, "the storm must have sent an email"


def test_episode_windows_follow_escalations_and_the_close(config):
    """Each new email moves the window to the one it counted: open, escalate, close."""
    db = store.connect(config.database)
    episode = {"id": "Acme/all/2026-11-23T07:00:00Z", "brand": "Acme", "series": "all",
               "status": "open", "opened_at": "2026-11-23T07:00:00Z", "rule": "burst",
               "params": '{"bucket_hours": 1}', "updated_at": "2026-11-23T07:00:00Z"}
    db.table("episodes").insert(episode)
    # Busy hours before it opened (the evidence starts at the first), one calm hour before.
    for hour, y, expected in ((2, 1, 2.0), (3, 9, 2.0), (4, 6, 2.0), (5, 1, 2.0), (6, 7, 2.0)):
        db.table("buckets").insert({"brand": "Acme", "series": "all", "n": 40, "y": y,
                                    "bucket_at": f"2026-11-23T0{hour}:00:00Z",
                                    "expected": expected})
    for kind, at in (("open", "07"), ("escalate", "09"), ("close", "20")):
        if kind == "close":
            db.execute("UPDATE episodes SET status = 'closed', closed_at = ? WHERE id = ?",
                       [f"2026-11-23T{at}:00:00Z", episode["id"]])
        alert = alerts.alert_row(f"{episode['id']}:{kind}", kind, recipients=["a@x"],
                                 brand="Acme", episode_id=episode["id"],
                                 event_at=f"2026-11-23T{at}:00:00Z")
        alerts.insert_alert(db, alert)
        row = alerts.rows(db, "SELECT * FROM episodes WHERE id = ?", [episode["id"]])[0]
        window = db.execute("SELECT since, until FROM episode_windows").fetchone()
        assert window == alerts.evidence_window(db, config, alert, row), kind
        assert window[0] == "2026-11-23T06:00:00Z"  # hour 5 was calm
    assert window[1] == "2026-11-23T21:00:00Z"
    db.close()


def test_every_episode_row_links_to_exactly_its_evidence(ds, site):
    _, db = site
    html = get(ds, "/earful/open_episodes").text
    links = re.findall(r'<a href="(/earful/episode_evidence\?[^"]+)">(\d+) negative mentions',
                       html)
    episodes = db.execute("SELECT id, brand, series FROM episodes").fetchall()
    assert len(links) == len(episodes) >= 2  # the brand-wide one and reddit's own
    for href, said in links:
        episode = urllib.parse.parse_qs(urllib.parse.urlsplit(href.replace("&amp;", "&"))
                                        .query)["episode"][0]
        brand, series, since, until = db.execute(
            "SELECT brand, series, since, until FROM episode_windows WHERE episode_id = ?",
            [episode]).fetchone()
        expected = db.execute(
            "SELECT count(*) FROM mention_sentiments WHERE brand = ? AND label = 'negative' "
            "AND created_at >= ? AND created_at < ? AND (? = 'all' OR source = ?)",
            [brand, since, until, series, series]).fetchone()[0]
        page = get(ds, href.replace("&amp;", "&")).text
        assert int(said) == expected
        assert re.search(rf"<strong>{expected}</strong> negative mention", page)
        assert page.count('<article class="mention') == expected
        if series != "all":  # a source's own spike: only that source's mentions
            assert set(re.findall(r"· ([a-z]+) · Larkspur", page)) == {series}


def test_the_email_links_land_on_the_evidence_with_its_count(ds, site):
    config, db = site
    alert = alerts.rows(db, "SELECT * FROM alerts WHERE kind = 'open'", [])[0]
    text = alerts.render_alert(db, config, alert).get_body(("plain",)).get_content()
    count, link = re.search(r"See all (\d+) negative mentions: (\S+)", text).groups()
    page = get(ds, link.replace(config.earful["datasette_url"], "")).text
    assert f"<strong>{count}</strong> negative mention" in page
    # "in earful" opens the mention's own page: its text, sentiment and a way to triage.
    row_link = re.search(r"in earful: (\S+)", text).group(1)
    mention = get(ds, row_link.replace(config.earful["datasette_url"], "")).text
    assert 'class="mention-body"' in mention and "Sign in to triage" in mention
    assert mention.index("mention-body") < mention.index("Details: ids")


def test_a_source_s_own_episode_email_counts_that_source_like_its_page(ds, site):
    config, db = site
    episode = alerts.rows(db, "SELECT * FROM episodes WHERE series != 'all'", [])[0]
    # Inside the brand-wide episode it sent no email; render the one it would send alone.
    alert = {**alerts.alert_row(f"{episode['id']}:open", "open", recipients=["a@x"],
                                brand=episode["brand"], episode_id=episode["id"],
                                event_at=episode["opened_at"]), "created_at": store.now_iso()}
    evidence = alerts.gather(db, config, alert)
    assert {s.source for s in evidence.by_source} == {episode["series"]}
    assert {m["source"] for m in evidence.worst} == {episode["series"]}
    text = alerts.render(evidence, "earful@x").get_body(("plain",)).get_content()
    count, link = re.search(r"See all (\d+) negative mentions: (\S+)", text).groups()
    page = get(ds, link.replace(config.earful["datasette_url"], "")).text
    assert f"<strong>{count}</strong> negative mentions of Larkspur on {episode['series']}" \
        in page
    assert page.count('<article class="mention') == int(count)


def test_anonymous_visitors_get_a_sign_in_link_that_comes_back(ds, site):
    _, db = site
    path = "/earful/mentions/" + tilde_encode(a_negative_mention(db))
    html = get(ds, path).text
    assert 'class="triage"' not in html
    link = re.search(r'<a href="(/-/login\?next=[^"]+)">Sign in to triage</a>', html).group(1)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["next"] == [path]
    login = get(ds, link).text
    assert f'action="/-/login?next={urllib.parse.quote(path, safe="")}"' in login
    ok = form_post(ds, link, {"username": "team", "password": PASSWORD})
    assert ok.status_code == 302 and ok.headers["location"] == path
    # Only a path on this site: anything else goes home, as Datasette would.
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = form_post(ds, "/-/login?" + urllib.parse.urlencode({"next": target}),
                             {"username": "team", "password": PASSWORD})
        assert response.headers["location"] == "/", target
    # Anonymous writes are still refused.
    refused = form_post(ds, "/earful/set_triage", {"mention_id": "x", "status": "resolved"})
    assert refused.status_code == 403


def test_triage_and_correction_from_the_mention_page_win_everywhere(ds, site):
    _, db = site
    mention = a_negative_mention(db)
    path = "/earful/mentions/" + tilde_encode(mention)
    team = signed_in(ds)
    html = get(ds, path, cookies=team).text
    statuses = re.findall(r'<option value="([a-z]+)"', html.split('id="triage-status"')[1]
                          .split("</select>")[0])
    assert statuses == ["new", "acknowledged", "resolved", "ignored"]
    assert "Sign in to triage" not in html
    back = form_post(ds, "/earful/set_triage?" + urllib.parse.urlencode({"next": path}),
                     {"mention_id": mention, "status": "acknowledged", "owner": "Dana",
                      "note": "refund sent"}, cookies=team)
    assert back.status_code == 302 and back.headers["location"] == path
    back = form_post(ds, "/earful/set_sentiment?" + urllib.parse.urlencode({"next": path}),
                     {"mention_id": mention, "label": "neutral"}, cookies=team)
    assert back.headers["location"] == path
    page = get(ds, path, cookies=team).text
    assert "corrected by team (the model said negative)" in page
    assert "owner Dana" in page and "refund sent" in page
    # The forms' own pages offer the same choices, without their INSERT statement.
    form = get(ds, "/earful/set_triage", cookies=team).text
    assert "insert into" not in form.lower()
    assert re.findall(r"<option[^>]*>([a-z]+)</option>", form.split('name="status"')[1]
                      .split("</select>")[0]) == ["new", "acknowledged", "resolved", "ignored"]
    # The person's label is what every count and list uses.
    assert db.execute("SELECT label FROM mention_sentiments WHERE mention_id = ?",
                      [mention]).fetchone() == ("neutral",)
    listed = get(ds, "/earful/recent_mentions.json?_shape=objects&id=" +
                 urllib.parse.quote(mention)).json()["rows"]
    assert [(r["sentiment"], r["status"], r["owner"]) for r in listed] == [
        ("neutral", "acknowledged", "Dana")]


def test_feed_pages_put_the_texts_before_the_reference(ds):
    for path in ("/earful/recent_mentions", "/earful/negatives_7d",
                 "/earful/search_mentions?q=refund&brand="):
        html = get(ds, path).text
        first = html.index('class="mention-body"')
        assert "column-descriptions" not in html[:first], path
        assert html.find("facet-results") == -1 or html.index("facet-results") > \
            html.index("earful-counts"), path  # counts folded in a <details>
    row = get(ds, "/earful/mentions/" + tilde_encode("x:none")).status_code
    assert row == 404


def test_link_cells_are_built_and_encoded_here(ds):
    cell = link_cell('{"label": "3 negative mentions", "query": "episode_evidence", '
                     '"params": {"episode": "A&B/all/2026-11-23T07:00:00Z"}}', "earful", ds)
    assert cell == ('<a href="/earful/episode_evidence?episode=A%26B%2Fall%2F2026-11-23T07'
                    '%3A00%3A00Z">3 negative mentions</a>')
    row = link_cell('{"label": "<b>x</b>", "row": "mentions", "pk": "reddit:a/b"}', "earful", ds)
    assert row == '<a href="/earful/mentions/reddit~3Aa~2Fb">&lt;b&gt;x&lt;/b&gt;</a>'
    for value in ("plain text", '{"label": 1}', '{"no": "label"}', "{not json", None, 3):
        assert link_cell(value, "earful", ds) is None
    assert safe_next("/earful/x?y=1") == "/earful/x?y=1"
    assert all(safe_next(v) is None for v in ("//x", "http://x", "x", "/a\r\nb", "", None))


def test_competitors_are_charted_but_never_alerted_on(site):
    config, db = site
    assert config.brand(COMPETITOR).competitor and not config.brand("Larkspur").competitor
    assert db.execute("SELECT * FROM brands ORDER BY name").fetchall() == [
        ("Larkspur", 0), (COMPETITOR, 1)]
    # Its mentions carry the same storm as ours: still no episode, alert or bucket.
    assert db.execute("SELECT count(*) FROM mentions WHERE brand = ?", [COMPETITOR]
                      ).fetchone()[0] > 100
    for table in ("episodes", "alerts", "buckets"):
        assert db.execute(f"SELECT count(*) FROM {table} WHERE brand = ?", [COMPETITOR]
                          ).fetchone()[0] == 0, table
    assert db.execute("SELECT count(*) FROM episodes WHERE brand = 'Larkspur'").fetchone()[0]
    # Digests leave competitors out too.
    from earful import digest

    start = store.iso(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    d = digest.gather(db, config, {"id": "digest:daily:x", "event_at": start,
                                   "recipients": "[]", "created_at": start})
    assert [b.brand for b in d.brands] == ["Larkspur"]


def test_empty_episodes_box_says_so(tmp_path):
    board = METADATA["plugins"]["datasette-dashboards"]["negatives"]["charts"]
    sql = re.sub(r"\[\[[^\]]*\]\]", "", board["open-episodes"]["query"])
    db = store.connect(tmp_path / "empty.db")
    rows = db.execute(sql).fetchall()
    db.close()
    assert len(rows) == 1 and rows[0][0].startswith("No spike of negative mentions")
