"""Datasette probed as an anonymous visitor would, on a real `earful serve` on 127.0.0.1:
no query of theirs can take the server's memory, the operational tables are the team's,
and a crowd of sign-in attempts does not stall the pages."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from earful import db as store
from tests.test_datasette import METADATA, TEAM_PASSWORD, free_port, populated, team_hash

__all__ = ["populated", "team_hash"]  # module fixtures shared with test_datasette
EARFUL = str(Path(sys.executable).parent / "earful")
pytestmark = pytest.mark.slow
OPERATIONAL = ["alerts", "runs", "source_runs", "cursors", "stage_positions", "detector_states",
               "migrations"]
RANDOMBLOB = "select length(hex(randomblob(400000000)))"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


class Server:
    def __init__(self, database: Path, tmp: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = tmp / "serve.toml"
        config.write_text(f'[earful]\ndatabase = "{database}"\n[serve]\nport = {self.port}\n')
        self.proc = subprocess.Popen([EARFUL, "serve", "--config", str(config)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        for _ in range(150):
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stderr.read())
            try:
                self.get("/-/versions.json")
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("Datasette never answered")

    def stop(self) -> str:
        self.proc.terminate()
        return self.proc.communicate(timeout=10)[1]

    def get(self, path: str, cookies: dict[str, str] | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, headers=dict(headers or {}))
        if cookies:
            request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def sign_in(self, password: str = TEAM_PASSWORD) -> tuple[int, dict[str, str]]:
        """The login form as a browser posts it: CSRF cookie and token, then the form."""
        with urllib.request.urlopen(self.base + "/-/login", timeout=30) as resp:
            page = resp.read().decode()
            csrf = re.search(r"ds_csrftoken=([^;]+)", resp.headers["Set-Cookie"])[1]
        token = re.search(r'name="csrftoken" value="([^"]+)"', page)[1]
        body = urllib.parse.urlencode({"username": "team", "password": password,
                                       "csrftoken": token}).encode()
        request = urllib.request.Request(self.base + "/-/login", data=body,
                                         headers={"Cookie": f"ds_csrftoken={csrf}"})
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=60) as resp:
                status, cookie = resp.status, resp.headers.get("Set-Cookie") or ""
        except urllib.error.HTTPError as exc:
            status, cookie = exc.code, exc.headers.get("Set-Cookie") or ""
        actor = re.search(r"ds_actor=([^;]+)", cookie)
        return status, ({"ds_actor": actor[1]} if actor else {})


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # the 302 after sign-in carries the cookie
        return None


@pytest.fixture(scope="module")
def server(populated, team_hash, tmp_path_factory):
    config, db = populated
    run_id = store.start_run(db, "run", os.getpid())
    store.finish_run(db, run_id, "ok")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    env["EARFUL_TEAM_PASSWORD_HASH"] = team_hash
    ds = Server(config.database, tmp_path_factory.mktemp("serve"), env)
    yield ds
    ds.stop()


@pytest.fixture(scope="module")
def team(server):
    status, cookies = server.sign_in()
    assert status == 302 and cookies, status
    return cookies


def sql_url(sql: str, fmt: str = ".json") -> str:
    return f"/earful{fmt}?sql={urllib.parse.quote(sql)}"


def test_the_randomblob_query_is_refused_to_anonymous_visitors(server):
    before = peak_rss_mb(server.proc.pid)
    for fmt in (".json", "", ".csv"):
        status, body = server.get(sql_url(RANDOMBLOB, fmt))
        assert status == 403, (fmt, body[:200])
        assert b"signed-in team" in body
    # The same through a table page's own SQL clause.
    status, _ = server.get("/earful/mentions.json?_where=" +
                           urllib.parse.quote("length(hex(randomblob(400000000))) > 0"))
    assert status == 403
    assert peak_rss_mb(server.proc.pid) - before < 200


def test_even_the_team_cannot_make_one_huge_value(server, team):
    before = peak_rss_mb(server.proc.pid)
    status, body = server.get(sql_url(RANDOMBLOB), cookies=team)
    assert status == 400 and b"too big" in body, body[:300]
    assert peak_rss_mb(server.proc.pid) - before < 200
    status, body = server.get(sql_url("select count(*) as n from mentions"), cookies=team)
    assert status == 200 and json.loads(body)["rows"][0][0] > 2000


def test_operational_tables_are_the_teams(server, team):
    for table in OPERATIONAL:
        for fmt in ("", ".json", ".csv"):
            status, _ = server.get(f"/earful/{table}{fmt}")
            assert status == 403, (table, fmt, status)
        status, body = server.get(f"/earful/{table}.json?_shape=objects", cookies=team)
        assert status == 200, (table, body[:200])
        assert server.get(sql_url(f"select * from {table}"))[0] == 403
    status, body = server.get("/earful/runs.json?_shape=objects", cookies=team)
    assert json.loads(body)["rows"], "the team reads the runs"
    # Listed to the team only.
    anonymous = json.loads(server.get("/earful.json")[1])
    assert not {t["name"] for t in anonymous["tables"]} & set(OPERATIONAL)
    assert server.get("/earful/source_health")[0] == 403
    assert server.get("/earful/source_health", cookies=team)[0] == 200


def test_no_anonymous_query_reads_them_another_way(server, team, populated):
    _, db = populated
    # _through filters episodes by a column of alerts (its foreign key): a yes/no oracle
    # on the alerts if it ran.
    through = urllib.parse.quote(json.dumps({"table": "alerts", "column": "status",
                                             "value": "sent"}))
    status, body = server.get(f"/earful/episodes.json?_through={through}")
    assert status == 403, body[:300]
    status, body = server.get(f"/earful/episodes.json?_through={through}", cookies=team)
    assert status == 200 and json.loads(body)["rows"], body[:300]
    # An episode's row page counts the rows of other tables that point at it: Datasette
    # asks SQLite about alerts for it, and for an anonymous visitor SQLite reads nothing.
    episode = db.execute("SELECT id FROM episodes WHERE id IN (SELECT episode_id FROM alerts)"
                         ).fetchone()[0]
    path = "/earful/episodes/" + re.sub(r"[/:]", lambda m: f"~{ord(m[0]):02X}", episode)

    def alerts_count(cookies):
        status, body = server.get(path + ".json?_extras=foreign_key_tables", cookies=cookies)
        assert status == 200, body[:300]
        tables = json.loads(body)["foreign_key_tables"]
        return next(t["count"] for t in tables if t["other_table"] == "alerts")

    assert alerts_count(None) == 0
    assert alerts_count(team) >= 1
    assert server.get(path)[0] == 200


def test_anonymous_visitors_keep_the_pages_questions_and_charts(server):
    for path in ("/", "/earful", "/earful/mentions_view", "/earful/recent_mentions?_facet=brand",
                 "/earful/episodes.json", "/earful/negative_last_7d?brand=",
                 "/earful/search_mentions?q=charged&brand=", "/-/dashboards/negatives"):
        status, body = server.get(path)
        assert status == 200, (path, body[:300])
    # Each chart's data, as the dashboard's script asks for it, with and without filters.
    dashboards = METADATA["plugins"]["datasette-dashboards"]
    from datasette_dashboards import replace_opts_in_query

    asked = 0
    for dashboard in dashboards.values():
        for chart in dashboard["charts"].values():
            if "query" not in chart:
                continue
            for options in ({}, {"brand": "Larkspur", "days": "30"},
                            {"brand": "Larkspur", "source": "reddit", "days": "30"}):
                sql = replace_opts_in_query(chart["query"], options)
                qs = urllib.parse.urlencode(options)
                status, body = server.get(f"{sql_url(sql)}&{qs}&_shape=objects")
                assert status == 200, (chart.get("title"), options, body[:300])
                asked += 1
    assert asked >= 9


def test_basic_credentials_still_work_and_wrong_ones_are_anonymous(server):
    good = base64.b64encode(f"team:{TEAM_PASSWORD}".encode()).decode()
    bad = base64.b64encode(b"team:guess").decode()
    assert server.get("/earful/runs.json", headers={"Authorization": f"Basic {good}"})[0] == 200
    assert server.get("/earful/runs.json", headers={"Authorization": f"Basic {bad}"})[0] == 403


def test_ten_sign_in_attempts_at_once_do_not_stall_the_pages(server):
    """Each attempt hashes for ~0.3 s. On the event loop, ten of them held every page for
    seconds; now the hashing runs in a thread, one at a time, and the surplus is told to
    come back. Pages asked while the attempts are under way answer before they are done
    (benchmarks/datasette/sign_in.py measures the page latency itself)."""
    answers: list[tuple[float, int]] = []

    def attempt() -> None:
        status, _ = server.sign_in(password="wrong guess")
        answers.append((time.monotonic(), status))

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # the attempts are in
    pages = []
    for _ in range(5):
        status, _ = server.get("/earful/mentions_view?_size=5")
        pages.append((time.monotonic(), status))
    for thread in threads:
        thread.join(timeout=120)
    statuses = sorted(s for _, s in answers)
    assert len(statuses) == 10 and set(statuses) <= {200, 429}, statuses
    assert 429 in statuses  # more than one hash and a few waiting are turned away
    assert all(s == 200 for _, s in pages)
    last_sign_in = max(t for t, s in answers if s == 200)
    assert max(t for t, _ in pages) < last_sign_in, "pages waited for the hashing"
    # And the team still signs in.
    status, cookies = server.sign_in()
    assert status == 302 and cookies


def test_serve_without_a_team_password_says_nobody_can_sign_in(populated, tmp_path):
    config, _ = populated
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    ds = Server(config.database, tmp_path, env)
    stderr = ds.stop()
    assert "EARFUL_TEAM_PASSWORD_HASH is not set: nobody can sign in" in stderr, stderr


@pytest.mark.parametrize("words", ['"', '""', '" "', '"""'])
def test_a_search_of_quotes_finds_nothing_and_never_errors(server, words):
    q = urllib.parse.quote(words)
    for path in (f"/earful/mentions_view?_search={q}", f"/earful/mentions?_search={q}",
                 f"/earful/search_mentions?q={q}&brand="):
        status, body = server.get(path)
        assert status == 200, (path, body[:300])
        status, body = server.get(path.replace("?", ".json?", 1) + "&_shape=objects")
        assert status == 200 and json.loads(body)["rows"] == [], (path, body[:300])
    status, body = server.get("/earful/mentions.json?_search=charged&_shape=objects")
    assert json.loads(body)["rows"], "a real word still finds mentions"
