"""The corpus through the installed `earful collect` into a real SQLite file.

A local HTTP server on 127.0.0.1 serves the recorded files at the paths the collectors
ask for; the test checks what a user would look at in the database afterwards, and that
collecting again stores nothing twice.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.acceptance.conftest import corpus_path
from tests.helpers import Site

EARFUL = str(Path(sys.executable).parent / "earful")
PAGES = {
    "/recipes/hostthetoast": ("reviews/html/schema_org_jsonld/"
                              "hostthetoast.com_hostthetoast_1.html"),
    "/recipes/clevercarrot": ("reviews/html/schema_org_jsonld/"
                              "theclevercarrot.com_theclevercarrot_1.html"),
    "/recipes/allrecipes": "reviews/html/schema_org_jsonld/allrecipes.com_allrecipescurated.html",
    "/shop/williams-sonoma": ("reviews/html/schema_org_microdata/"
                              "williams-sonoma.com_williamssonoma_2.html"),
}


def routes() -> dict[str, tuple[str, bytes]]:
    out = {"/robots.txt": ("text/plain", b"User-agent: *\nAllow: /\n")}
    for path, rel in PAGES.items():
        out[path] = ("text/html; charset=utf-8", corpus_path(*rel.split("/")).read_bytes())
    out["/alerts/slack"] = ("application/atom+xml", corpus_path(
        "feeds", "google_alerts", "google_alerts_atom.xml").read_bytes())
    out["/api/v1/search_by_date"] = ("application/json", corpus_path(
        "hn_algolia", "search_url_medium_ssh.json").read_bytes())
    # The corpus keeps Trustpilot's embedded review objects; the page around them is ours.
    reviews = json.loads(corpus_path("reviews", "scraped_json",
                                     "trustpilot_reviews.json").read_text())
    page = {"props": {"pageProps": {"reviews": reviews, "filters": {
        "pagination": {"currentPage": 1, "totalPages": 1}}}}}
    out["/review/www.bhphotovideo.com"] = ("text/html", (
        '<html><body><script id="__NEXT_DATA__" type="application/json">'
        + json.dumps(page) + "</script></body></html>").encode())
    return out


@pytest.fixture(scope="module")
def server():
    with Site() as site:
        for path, (ctype, body) in routes().items():
            site.route(path, body, ctype)
        yield site.url


def config_text(url: str, db: Path) -> str:
    sources = "".join(f'\n[[brands.sources]]\ntype = "schemaorg"\nurl = "{url}{p}"\n'
                      for p in PAGES)
    return f'''[earful]
database = "{db}"
[http]
min_delay_seconds = 0
[[brands]]
name = "Corpus"
keywords = ["slack", "ssh"]
[[brands.sources]]
type = "feed"
url = "{url}/alerts/slack"
[[brands.sources]]
type = "hackernews"
query = "medium ssh"
base_url = "{url}"
match = false
[[brands.sources]]
type = "trustpilot"
url = "{url}/review/www.bhphotovideo.com"
{sources}'''


def collect(config: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    return subprocess.run([EARFUL, "collect", "--config", str(config)], capture_output=True,
                          text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)


def test_corpus_into_sqlite_then_nothing_twice(server, tmp_path):
    db_path = tmp_path / "earful.db"
    config = tmp_path / "config.toml"
    config.write_text(config_text(server, db_path))
    first = collect(config)
    assert first.returncode == 0, first.stderr
    db = sqlite3.connect(db_path)
    by_source = dict(db.execute("SELECT source, count(*) FROM mentions GROUP BY source"))
    # Feed: all 20 Google Alerts entries mention Slack; HN: the 4 stories of the answer;
    # Trustpilot 60; schema.org pages 60 + 30 + 10 + 8.
    assert by_source == {"feed": 20, "hackernews": 4, "trustpilot": 60, "schemaorg": 108}
    stars = Counter(r for (r,) in db.execute(
        "SELECT rating FROM mentions WHERE source = 'trustpilot'"))
    assert stars == {5.0: 57, 3.0: 2, 1.0: 1}
    toast = Counter(r for (r,) in db.execute(
        "SELECT rating FROM mentions WHERE target LIKE '%hostthetoast'"))
    assert toast == {3.0: 2, 4.0: 7, 5.0: 51}
    # Google's redirect links are unwrapped to the real article before they are stored.
    links = [u for (u,) in db.execute("SELECT url FROM mentions WHERE source = 'feed'")]
    assert links and not any("google.com/url" in u for u in links)
    assert {i for (i,) in db.execute("SELECT native_id FROM mentions WHERE source = "
                                     "'hackernews'")} == {"8828543", "11516582", "13566801",
                                                          "8830693"}
    # The theclevercarrot review without a body is kept, not dropped.
    assert db.execute("SELECT count(*) FROM mentions WHERE target LIKE '%clevercarrot' AND "
                      "(body IS NULL OR body = '')").fetchone()[0] == 1
    # Everything is searchable.
    assert db.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH 'slack'"
                      ).fetchone()[0] > 0
    total = sum(by_source.values())
    runs = db.execute("SELECT count(*), sum(new_rows) FROM source_runs").fetchone()
    assert runs == (len(PAGES) + 3, total)
    db.close()

    second = collect(config)
    assert second.returncode == 0, second.stderr
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == total
    assert db.execute("SELECT sum(new_rows) FROM source_runs WHERE run_id = 2").fetchone() == (0,)
    db.close()
