"""Security with real processes: secrets stay out of every output, hostile mention text
stays inert in Datasette and in the email, and collectors fetch only configured URLs.

Everything runs the installed `earful` against local servers on 127.0.0.1 (and 127.0.0.2
for "somewhere else"), a real aiosmtpd server that requires AUTH, and a real Datasette.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import html
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from email import policy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from datasette_auth_passwords.utils import hash_password

from earful import db as store
from earful.alerts import queue_alert
from earful.demo import DemoServer, demo_config, make_handler
from tests.helpers import Site

EARFUL = str(Path(sys.executable).parent / "earful")
pytestmark = pytest.mark.slow

REDDIT_ID = "demo-client"
REDDIT_SECRET = "Rq7-SECRET-reddit-x9Zt2Lw"
WRONG_REDDIT_SECRET = "Kp3-SECRET-wrong-reddit-Vb81"
SMTP_USER = "earful-relay"
SMTP_PASSWORD = "Hs5-SECRET-smtp-pass-Qe40"
WRONG_SMTP_PASSWORD = "Mw2-SECRET-wrong-smtp-Jd66"
SECRETS = [REDDIT_SECRET, WRONG_REDDIT_SECRET, SMTP_PASSWORD, WRONG_SMTP_PASSWORD]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    out.update(extra)
    return out


def earful(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([EARFUL, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def encodings(secret: str, user: str) -> list[bytes]:
    """The secret as it could leak: raw, URL-quoted, base64 alone, as HTTP Basic, AUTH PLAIN."""
    forms = [secret, urllib.parse.quote(secret),
             base64.b64encode(secret.encode()).decode(),
             base64.b64encode(f"{user}:{secret}".encode()).decode(),
             base64.b64encode(f"\0{user}\0{secret}".encode()).decode()]
    return [f.encode() for f in forms]


def leaks(blob: bytes) -> list[str]:
    found = []
    for secret in SECRETS:
        user = REDDIT_ID if "reddit" in secret else SMTP_USER
        found += [f"{secret} as {form!r}" for form in encodings(secret, user) if form in blob]
    return found


# --- servers --------------------------------------------------------------------------------
class ServingDatasette:
    """`earful serve` (the real Datasette) on a free port, with the operator's environment."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        text = config.read_text()
        if "[serve]" in text:
            text = text.replace("port = 8001", f"port = {self.port}")
        else:
            text += f"\n[serve]\nport = {self.port}\n"
        self.config = config.with_name("serve.toml")
        self.config.write_text(text)
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**env, "EARFUL_TEAM_PASSWORD_HASH": TEAM_HASH}  # the crawl signs in as well
        self.proc = subprocess.Popen([EARFUL, "serve", "--config", str(self.config)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        self.stderr = b""

    def __enter__(self) -> ServingDatasette:
        for _ in range(150):
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stderr.read().decode())
            try:
                self.get("/-/versions.json")
                return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError("Datasette never answered")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        _, self.stderr = self.proc.communicate(timeout=10)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str) -> Any:
        status, body = self.get(path)
        assert status == 200, (path, body[:300])
        return json.loads(body)


class AuthInbox:
    """aiosmtpd handler + authenticator: one account, every accepted message kept raw."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.passwords_tried: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope.original_content or envelope.content)
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.passwords_tried.append(auth_data.password)
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


# --- secrets ----------------------------------------------------------------------------------
# AUTH without TLS on purpose: the secrets must not leak even when the wire is readable.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_secrets_never_reach_the_database_logs_datasette_or_email(tmp_path):
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    authorizations: list[str] = []
    with DemoServer(end - dt.timedelta(hours=2)) as demo:
        base = make_handler(demo.catalog)

        class Checking(base):
            def do_POST(self) -> None:  # noqa: N802 - the Reddit token endpoint checks the secret
                authorizations.append(self.headers.get("Authorization", ""))
                good = "Basic " + base64.b64encode(f"{REDDIT_ID}:{REDDIT_SECRET}".encode()).decode()
                if self.path.startswith("/api/v1/access_token") and authorizations[-1] != good:
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    self._send(401, json.dumps({"message": "Unauthorized", "error": 401}),
                               "application/json")
                    return
                super().do_POST()

        demo.httpd.RequestHandlerClass = Checking
        inbox, smtp_port = AuthInbox(), free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port, auth_required=True,
                                auth_require_tls=False, authenticator=inbox.authenticate)
        controller.start()
        try:
            work = tmp_path / "w"
            work.mkdir()
            config = work / "config.toml"
            config.write_text(demo_config(demo.url, work) + (
                f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
                f'username = "{SMTP_USER}"\ntimeout = 10\n'))
            # First the wrong secrets (failures get recorded and logged), then the right ones.
            wrong = clean_env(EARFUL_REDDIT_CLIENT_ID=REDDIT_ID,
                              EARFUL_REDDIT_CLIENT_SECRET=WRONG_REDDIT_SECRET,
                              EARFUL_SMTP_PASSWORD=WRONG_SMTP_PASSWORD)
            right = clean_env(EARFUL_REDDIT_CLIENT_ID=REDDIT_ID,
                              EARFUL_REDDIT_CLIENT_SECRET=REDDIT_SECRET,
                              EARFUL_SMTP_PASSWORD=SMTP_PASSWORD)
            logs = b""
            with ServingDatasette(config, right) as ds:  # reads while cron writes, as in life
                first = earful("run", "-vv", "--config", str(config), env=wrong, cwd=work)
                assert first.returncode == 1, first.stderr
                assert "401" in first.stderr and "535" in first.stderr  # both really refused
                second = earful("run", "-vv", "--config", str(config), env=right, cwd=work)
                assert second.returncode == 0, second.stderr
                status = earful("status", "-vv", "--config", str(config), env=right, cwd=work)
                logs += (first.stderr + second.stderr + status.stdout + status.stderr).encode()
                files_live = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
                assert any(p.name.endswith("-wal") for p in files_live), "no WAL to search"
                pages = crawl(ds)
            logs += ds.stderr
        finally:
            controller.stop()
    # The secrets were really used: Reddit saw both, the SMTP server was offered both.
    seen = " ".join(authorizations)
    for secret in (WRONG_REDDIT_SECRET, REDDIT_SECRET):
        assert base64.b64encode(f"{REDDIT_ID}:{secret}".encode()).decode() in seen
    assert {WRONG_SMTP_PASSWORD.encode(), SMTP_PASSWORD.encode()} <= set(inbox.passwords_tried)
    assert inbox.messages, "no alert email arrived"
    assert len(pages) > 20 and sum(len(b) for b in pages.values()) > 500_000
    files_after = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    places = {"logs (stderr -vv, status)": logs,
              **{f"emails[{i}]": m for i, m in enumerate(inbox.messages)},
              **{f"file {p.name} (live)": b for p, b in files_live.items()},
              **{f"file {p.name} (after)": b for p, b in files_after.items()},
              **{f"datasette {path}": body for path, body in pages.items()}}
    found = {where: hit for where, blob in places.items() if (hit := leaks(blob))}
    assert found == {}


TEAM_PASSWORD = "team-pass-for-crawl"
TEAM_HASH = hash_password(TEAM_PASSWORD, iterations=1000)  # fast: the crawl signs in per page
TEAM = {"Authorization": "Basic " + base64.b64encode(f"team:{TEAM_PASSWORD}".encode()).decode()}
OPERATIONAL = {"alerts", "runs", "source_runs", "cursors", "stage_positions", "detector_states",
               "migrations", "alert_deliveries"}


def crawl(ds: ServingDatasette) -> dict[str, bytes]:
    """Every /-/ page, the database page, every row of every table and view (JSON), as an
    anonymous visitor and as the signed-in team (who alone read the operational tables)."""
    pages: dict[str, bytes] = {}
    for path in ("/", "/earful", "/-/versions.json", "/-/plugins.json", "/-/settings.json",
                 "/-/metadata.json", "/-/databases.json", "/-/actor.json", "/-/threads.json",
                 "/-/config.json", "/-/dashboards", "/-/dashboards/negatives", "/-/login",
                 "/earful.json"):
        status, body = ds.get(path)
        assert status in (200, 404), (path, status)
        pages[path] = body
    public = json.loads(ds.get("/earful.json")[1])
    shown = {t["name"] for t in public["tables"]} | {v["name"] for v in public["views"]}
    assert "mentions" in shown and not shown & OPERATIONAL
    status, body = ds.get("/earful.json", headers=TEAM)
    database = json.loads(body)
    names = [t["name"] for t in database["tables"]] + [v["name"] for v in database["views"]]
    assert OPERATIONAL <= set(names)
    for name in names:
        path: str | None = f"/earful/{urllib.parse.quote(name)}.json?_size=max&_shape=objects"
        assert ds.get(path)[0] == (403 if name in OPERATIONAL else 200), name
        while path:
            status, body = ds.get(path, headers=TEAM)
            assert status == 200, (path, body[:300])
            pages[path] = body
            following = json.loads(body).get("next_url")
            path = following.removeprefix(ds.base) if following else None
    return pages


# --- hostile mention text -------------------------------------------------------------------
BIG = 1_048_576
NOW = dt.datetime.now(dt.UTC)
WHEN = NOW.replace(minute=10, second=0, microsecond=0) - dt.timedelta(hours=2)
SCRIPT = '<script>alert("pwn-title")</script>'
HN_TITLE = (f"Larkspur scam {SCRIPT}<img src=x onerror=alert(\"pwn-img\")>"
            f"<svg onload=alert(\"pwn-svg\")> \u202egnp.exe \x00nul")
HN_AUTHOR = '"><script>alert("pwn-author")</script>'
HN_COMMENT_TEXT = "Larkspur charged me twice, awful, terrible, a scam " + "\u202e" + "x" * BIG
FEED_TEXT = 'Larkspur stole my money, worst scam ever <script>alert("pwn-feed")</script>'


def hn_answer() -> dict[str, Any]:
    epoch = int(WHEN.timestamp())
    return {"nbPages": 1, "page": 0, "hits": [
        {"objectID": "7001", "_tags": ["story"], "title": HN_TITLE, "author": HN_AUTHOR,
         "url": "javascript:alert('pwn-url')", "story_text": None, "created_at_i": epoch},
        {"objectID": "7002", "_tags": ["comment"], "comment_text": html.escape(HN_COMMENT_TEXT),
         "author": "mallory", "story_id": 7001, "created_at_i": epoch + 60},
    ]}


def hostile_feed() -> str:
    stamp = (WHEN + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    content = (f"<p>{html.escape(FEED_TEXT)}</p><p><a href=\"javascript:alert('pwn-a')\">"
               "my receipt</a> <img src=x onerror=\"alert('pwn-feed-img')\"></p>")
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            "<id>tag:test,2026:hostile</id><title>alerts</title>"
            f"<updated>{stamp}</updated><entry><id>tag:test,2026:e1</id>"
            "<title type=\"html\">Larkspur &lt;b&gt;refund&lt;/b&gt; scam</title>"
            "<link href=\"javascript:alert('pwn-link')\"/>"
            f"<published>{stamp}</published><updated>{stamp}</updated>"
            f"<content type=\"html\">{html.escape(content)}</content></entry></feed>")


def base_config(work: Path, sources: str) -> Path:
    config = work / "config.toml"
    config.write_text(f'''
[earful]
database = "{work / 'earful.db'}"
datasette_url = "https://earful.example.com"

[http]
min_delay_seconds = 0
max_retries = 0

[alerts]
recipients = ["lead@example.com"]
outbox = "{work / 'outbox'}"

[[brands]]
name = "Larkspur"
keywords = ["larkspur"]
{sources}''')
    return config


class Tags(HTMLParser):
    """Elements, attributes, inline script bodies and visible text of a page."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def assert_inert(page: str, where: str) -> Tags:
    """Nothing from the hostile mentions runs: no script, handler, javascript: URL of theirs."""
    parsed = Tags(page)
    assert not [s for s in parsed.scripts if "pwn-" in s], where
    assert not [(t, a) for t, a in parsed.tags for k, v in a.items()
                if k.startswith("on") or "pwn-" in (v or "")], where
    assert not [(t, a) for t, a in parsed.tags for k in ("href", "src", "action")
                if (a.get(k) or "").strip().lower().startswith(("javascript:", "data:text"))], where
    assert not [t for t, a in parsed.tags if t == "img" and a.get("src") == "x"], where
    return parsed


def test_hostile_mentions_are_stored_faithfully_and_render_inert(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    with Site() as site:
        site.route("/api/v1/search_by_date", json.dumps(hn_answer()), "application/json")
        site.route("/hostile.atom", hostile_feed(), "application/atom+xml")
        config = base_config(work, f'''
[[brands.sources]]
type = "hackernews"
query = "larkspur"
base_url = "{site.url}"

[[brands.sources]]
type = "feed"
url = "{site.url}/hostile.atom"
''')
        result = earful("run", "--config", str(config), env=clean_env(), cwd=work)
        assert result.returncode == 0, result.stderr

    db = store.connect(work / "earful.db")
    rows = {r["id"]: r for r in db.query("SELECT * FROM mentions")}
    assert set(rows) == {"hackernews:7001", "hackernews:7002", "feed:tag:test,2026:e1"}
    story, comment, article = (rows["hackernews:7001"], rows["hackernews:7002"],
                               rows["feed:tag:test,2026:e1"])
    # Stored as the people wrote it: markup as text, NUL and right-to-left override kept.
    assert story["title"] == HN_TITLE and story["author"] == HN_AUTHOR
    assert comment["body"] == HN_COMMENT_TEXT and len(comment["body"]) > BIG
    assert FEED_TEXT in article["body"]
    # The negatives of the last hours: an episode and its alert, as detect would queue them.
    opened = WHEN.replace(minute=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    episode = f"Larkspur/all/{opened}"
    labels = dict(db.execute("SELECT mention_id, label FROM mention_sentiments").fetchall())
    assert labels["hackernews:7002"] == "negative" and labels[article["id"]] == "negative"
    with db.atomic():
        db.table("episodes").insert({
            "id": episode, "brand": "Larkspur", "series": "all", "status": "open",
            "opened_at": opened, "rule": "negative-burst", "params": "{}", "count": 3,
            "expected": 0.2, "baseline_share": 0.2, "summary": "hostile", "updated_at": "x"})
        from earful import config as cfg

        queue_alert(db, cfg.load(config), kind="open", episode_id=episode, brand="Larkspur",
                    event_at=opened)
    db.close()
    sent = earful("alert", "--config", str(config), env=clean_env(), cwd=work)
    assert sent.returncode == 0, sent.stderr

    # Datasette: the table pages and the row pages show the text and run none of it.
    from datasette.utils import tilde_encode

    with ServingDatasette(config, clean_env()) as ds:
        pages = {p: ds.get(p) for p in (
            "/earful/mentions", "/earful/mentions_view", "/earful/mentions?source=hackernews",
            "/earful/negative_last_24h?brand=Larkspur",
            *(f"/earful/mentions/{tilde_encode(i)}" for i in rows))}
        stored = ds.json(f"/earful/mentions/{tilde_encode('hackernews:7002')}.json?_shape=objects")
    for path, (status, body) in pages.items():
        assert status == 200, (path, body[:300])
        parsed = assert_inert(body.decode(), path)
        if "7001" in path:
            assert SCRIPT in "".join(parsed.text), path  # visible, as text
    assert stored["rows"][0]["body"] == HN_COMMENT_TEXT  # all 1 MB, intact through the API

    # The email: the hostile text is quoted as text; no live markup, no RLO, no bad links.
    emls = sorted((work / "outbox").glob("*.eml"))
    assert len(emls) == 1
    msg = email.message_from_bytes(emls[0].read_bytes(), policy=policy.default)
    html_part = msg.get_body(("html",)).get_content()
    text_part = msg.get_body(("plain",)).get_content()
    parsed = assert_inert(html_part, "email")
    assert "pwn-feed" in "".join(parsed.text) or "pwn-title" in "".join(parsed.text)
    assert [t for t, _ in parsed.tags if t == "script"] == []
    hrefs = [a.get("href") or "" for t, a in parsed.tags if t == "a"]
    assert hrefs and all(h.startswith(("https://earful.example.com/", "https://news.ycombinator"))
                         for h in hrefs), hrefs
    for part in (html_part, text_part, str(msg["Subject"])):
        assert "\u202e" not in part and "\x00" not in part
    assert len(emls[0].read_bytes()) < 200_000  # the 1 MB body is quoted, not pasted whole


# --- collectors fetch only what the config names ----------------------------------------------
def test_links_in_collected_content_are_never_fetched(tmp_path):
    """Feed links, Trustpilot next-page links, HN story URLs, App Store author pages, Reddit
    link posts and schema.org review URLs all point at a second server: it sees nothing."""
    work = tmp_path / "w"
    work.mkdir()
    with Site("127.0.0.2") as elsewhere, Site() as site:
        far = elsewhere.url
        epoch = int(WHEN.timestamp())
        site.route("/robots.txt", "User-agent: *\nAllow: /\n", "text/plain")
        site.route("/feed.atom", (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f'<id>tag:t,2026:f</id><title>f</title><link rel="next" href="{far}/feed-page-2"/>'
            f'<entry><id>tag:t,2026:1</id><title>Larkspur news</title>'
            f'<link href="{far}/article"/><link rel="enclosure" href="{far}/podcast.mp3"/>'
            f"<published>{WHEN:%Y-%m-%dT%H:%M:%SZ}</published>"
            f'<content type="html">{html.escape(f"Larkspur <img src={far}/pixel.gif>")}</content>'
            "</entry></feed>"), "application/atom+xml")
        site.route("/api/v1/search_by_date", json.dumps({"nbPages": 1, "hits": [
            {"objectID": "9001", "_tags": ["story"], "title": "Larkspur launch",
             "url": f"{far}/story", "created_at_i": epoch, "author": "a"},
            {"objectID": "9002", "_tags": ["comment"], "comment_text":
             f'Larkspur <a href="{far}/c">link</a>', "story_url": f"{far}/story",
             "story_id": 9001, "created_at_i": epoch, "author": "b"}]}), "application/json")
        next_data = {"props": {"pageProps": {
            "reviews": [{"id": "tp1", "title": "Larkspur", "text": "fine", "rating": 4,
                         "dates": {"publishedDate": f"{WHEN:%Y-%m-%dT%H:%M:%S.000Z}"},
                         "consumer": {"displayName": "c"}}],
            "links": {"nextPage": f"{far}/review/larkspur?page=2"},
            "filters": {"pagination": {"currentPage": 1, "totalPages": 1}}}}}
        site.route("/review/larkspur", (
            f'<html><head><link rel="next" href="{far}/review/larkspur?page=2"></head><body>'
            f'<a href="{far}/review/larkspur?page=2" rel="next">Next page</a>'
            f'<script id="__NEXT_DATA__" type="application/json">{json.dumps(next_data)}'
            "</script></body></html>"))
        site.route("/us/rss/customerreviews/page=1/id=42/sortby=mostrecent/json", json.dumps(
            {"feed": {"link": [{"attributes": {"rel": "next", "href": f"{far}/appstore-2"}}],
                      "entry": [{"author": {"name": {"label": "d"}, "uri": {"label": f"{far}/u"}},
                                 "updated": {"label": WHEN.isoformat()},
                                 "im:rating": {"label": "2"}, "id": {"label": "55"},
                                 "title": {"label": "Larkspur"}, "content": {"label": "meh"},
                                 "link": {"attributes": {"href": f"{far}/review"}}}]}}),
            "application/json")
        site.route("/us/rss/customerreviews/page=2/id=42/sortby=mostrecent/json",
                   json.dumps({"feed": {"entry": []}}), "application/json")
        site.route("/product", (
            '<html><head><script type="application/ld+json">' + json.dumps({
                "@context": "https://schema.org", "@type": "Product", "name": "Larkspur",
                "url": f"{far}/product", "sameAs": f"{far}/same",
                "review": [{"@type": "Review", "url": f"{far}/review-1",
                            "author": {"@type": "Person", "name": "e", "url": f"{far}/e"},
                            "datePublished": f"{WHEN:%Y-%m-%d}", "reviewBody": "Larkspur ok",
                            "reviewRating": {"@type": "Rating", "ratingValue": 3,
                                             "bestRating": 5}}]})
            + f'</script></head><body><a rel="next" href="{far}/product?page=2">next</a>'
            "</body></html>"))
        site.route("/api/v1/access_token", json.dumps(
            {"access_token": "t", "token_type": "bearer", "expires_in": 3600, "scope": "*"}),
            "application/json")
        site.route("/r/all/search", json.dumps({"kind": "Listing", "data": {
            "after": None, "before": None, "dist": 1, "modhash": None, "children": [
                {"kind": "t3", "data": {
                    "id": "p1", "name": "t3_p1", "title": "Larkspur", "selftext": "",
                    "author": "f", "subreddit": "x", "subreddit_name_prefixed": "r/x",
                    "permalink": "/r/x/comments/p1/l/", "url": f"{far}/reddit-link",
                    "thumbnail": f"{far}/thumb.jpg", "created_utc": float(epoch), "score": 1,
                    "num_comments": 0, "is_self": False, "over_18": False,
                    "preview": {"images": [{"source": {"url": f"{far}/preview.jpg"}}]}}}]}}),
            "application/json")
        config = base_config(work, f'''
[[brands.sources]]
type = "feed"
url = "{site.url}/feed.atom"

[[brands.sources]]
type = "hackernews"
base_url = "{site.url}"

[[brands.sources]]
type = "trustpilot"
url = "{site.url}/review/larkspur"

[[brands.sources]]
type = "appstore"
app_id = "42"
base_url = "{site.url}"

[[brands.sources]]
type = "schemaorg"
url = "{site.url}/product"

[[brands.sources]]
type = "reddit"
search = true
comments = false
''').resolve()
        config.write_text(config.read_text().replace("[alerts]", (
            f'[reddit]\nusername = "t"\noauth_url = "{site.url}"\nreddit_url = "{site.url}"\n\n'
            "[alerts]")))
        result = earful("run", "--config", str(config), cwd=work, env=clean_env(
            EARFUL_REDDIT_CLIENT_ID="id", EARFUL_REDDIT_CLIENT_SECRET="s"))
        time.sleep(0.5)  # anything in flight to the second server would have arrived
    db = store.connect(work / "earful.db")
    by_source = dict(db.execute("SELECT source, count(*) FROM mentions GROUP BY source"))
    db.close()
    # Every source really read its content (so the links were there to be followed)...
    assert by_source == {"feed": 1, "hackernews": 2, "trustpilot": 1, "appstore": 1,
                         "schemaorg": 1, "reddit": 1}, (by_source, result.stderr)
    assert result.returncode == 0, result.stderr
    # ...and not one request went anywhere else.
    assert elsewhere.hits == []


def test_a_css_next_page_link_to_another_host_is_not_followed(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    with Site("127.0.0.2") as elsewhere, Site() as site:
        site.route("/robots.txt", "User-agent: *\nAllow: /\n", "text/plain")
        site.route("/reviews", (
            '<html><body><div class="r" id="r1"><p class="t">Larkspur is fine</p></div>'
            f'<a class="next" href="{elsewhere.url}/reviews?page=2">next</a></body></html>'))
        elsewhere.route("/reviews", '<html><body><div class="r" id="r2"><p class="t">Larkspur'
                        " elsewhere</p></div></body></html>")
        config = base_config(work, f'''
[[brands.sources]]
type = "css"
url = "{site.url}/reviews"
review = "div.r"
text = "p.t"
next = "a.next"
''')
        result = earful("run", "--config", str(config), cwd=work, env=clean_env())
    assert result.returncode in (0, 1), result.stderr
    assert elsewhere.hits == []
