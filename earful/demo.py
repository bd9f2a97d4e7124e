"""The offline demo: the real pipeline against a local server that answers like the internet.

A small HTTP server on 127.0.0.1 serves the bundled demo items (``earful.demo_data``) in
the shapes the real services use -- Reddit's OAuth API, the Hacker News Algolia API, a
Trustpilot company page, the App Store reviews feed and a Google Alerts Atom feed. The
demo writes a config pointing the sources at it and runs ``earful run``: the same
collectors, parsers and save code that real data goes through.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import shutil
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import demo_data as dd

TRUSTPILOT_PATH = "/review/larkspur.example"
APP_ID = "1555000123"
FEED_PATH = "/alerts/feeds/0451/larkspur"
PAGE = {"trustpilot": 20, "appstore": 50}


class DemoCatalog:
    """The demo items, rendered per source on request."""

    def __init__(self, end: dt.datetime) -> None:
        self.items = dd.generate(end)
        self.by_kind: dict[str, list[dd.Item]] = {}
        for item in self.items:
            self.by_kind.setdefault(item.kind, []).append(item)
        for items in self.by_kind.values():
            items.sort(key=lambda i: i.created, reverse=True)  # newest first, like the APIs

    # --- Reddit (OAuth API listings) ------------------------------------------------
    @staticmethod
    def reddit_post_id(index: int) -> str:
        return f"lk{index:05d}"

    def reddit_thing(self, item: dd.Item) -> dict[str, Any]:
        if item.kind == "reddit_post":
            pid = self.reddit_post_id(item.index)
            return {"kind": "t3", "data": {
                "id": pid, "name": f"t3_{pid}", "title": item.title, "selftext": item.text,
                "author": item.author, "subreddit": dd.SUBREDDIT,
                "subreddit_name_prefixed": f"r/{dd.SUBREDDIT}",
                "permalink": f"/r/{dd.SUBREDDIT}/comments/{pid}/demo/",
                "url": f"https://www.reddit.com/r/{dd.SUBREDDIT}/comments/{pid}/demo/",
                "created_utc": float(item.epoch), "score": 1 + item.index % 40,
                "num_comments": 0, "is_self": True, "over_18": False,
                "removed_by_category": None}}
        cid = f"lc{item.index:05d}"
        post = self.reddit_post_id(item.parent or 1)
        return {"kind": "t1", "data": {
            "id": cid, "name": f"t1_{cid}", "body": item.text, "author": item.author,
            "subreddit": dd.SUBREDDIT, "link_id": f"t3_{post}", "parent_id": f"t3_{post}",
            "link_title": "", "permalink": f"/r/{dd.SUBREDDIT}/comments/{post}/demo/{cid}/",
            "created_utc": float(item.epoch), "score": 1 + item.index % 12, "replies": ""}}

    def reddit_listing(self, kind: str, query: dict[str, str]) -> dict[str, Any]:
        items = self.by_kind.get(kind, [])
        if "q" in query:
            words = [w for w in query["q"].lower().replace('"', " ").split() if w.isalnum()]
            items = [i for i in items if any(w in (i.title + " " + i.text).lower() for w in words)]
        limit = min(int(query.get("limit", 25) or 25), 100)
        start = 0
        if query.get("after"):
            names = [self.reddit_thing(i)["data"]["name"] for i in items]
            start = names.index(query["after"]) + 1 if query["after"] in names else len(items)
        page = [self.reddit_thing(i) for i in items[start:start + limit]]
        after = page[-1]["data"]["name"] if page and start + limit < len(items) else None
        return {"kind": "Listing", "data": {"after": after, "before": None, "dist": len(page),
                                            "modhash": None, "children": page}}

    # --- Hacker News (Algolia search_by_date) ----------------------------------------
    def hn_hit(self, item: dd.Item) -> dict[str, Any]:
        created = item.created.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if item.kind == "hn_story":
            oid = 40_000_000 + item.index * 97
            return {"objectID": str(oid), "title": f"{item.title}: {item.text[:60]}",
                    "url": f"https://blog.example/larkspur-{item.index}", "author": item.author,
                    "points": 3 + item.index % 50, "story_text": None, "comment_text": None,
                    "num_comments": 0, "story_id": None, "created_at": created,
                    "created_at_i": item.epoch, "_tags": ["story", f"author_{item.author}",
                                                          f"story_{oid}"]}
        oid = 41_000_000 + item.index * 89
        story = 40_000_000 + (item.parent or 1) * 97
        return {"objectID": str(oid), "title": None, "url": None, "author": item.author,
                "points": None, "story_text": None, "comment_text": html.escape(item.text),
                "story_id": story, "parent_id": story, "story_title": "Larkspur on HN",
                "story_url": None, "created_at": created, "created_at_i": item.epoch,
                "_tags": ["comment", f"author_{item.author}", f"story_{story}"]}

    def hn_search(self, query: dict[str, str]) -> dict[str, Any]:
        items = self.by_kind.get("hn_story", []) + self.by_kind.get("hn_comment", [])
        items.sort(key=lambda i: i.created, reverse=True)
        phrase = query.get("query", "").strip().strip('"').lower()
        if phrase:  # Algolia matches every word of the query; a quoted phrase as a phrase
            items = [i for i in items if phrase in (i.title + " " + i.text).lower()]
        tags = query.get("tags", "")
        if tags in ("story", "comment"):
            items = [i for i in items if i.kind == f"hn_{tags}"]
        for flt in query.get("numericFilters", "").split(","):
            for op in (">=", ">", "<=", "<"):
                if flt.startswith("created_at_i" + op):
                    bound = int(flt[len("created_at_i" + op):])
                    cmp: Callable[[int], bool] = {
                        ">": lambda v, b=bound: v > b, ">=": lambda v, b=bound: v >= b,
                        "<": lambda v, b=bound: v < b, "<=": lambda v, b=bound: v <= b}[op]
                    items = [i for i in items if cmp(i.epoch)]
                    break
        per = min(int(query.get("hitsPerPage", 20) or 20), 1000)
        page = int(query.get("page", 0) or 0)
        hits = [self.hn_hit(i) for i in items[page * per:(page + 1) * per]]
        pages = max(1, -(-len(items) // per))
        return {"hits": hits, "nbHits": len(items), "page": page, "nbPages": pages,
                "hitsPerPage": per, "query": query.get("query", ""), "params": "",
                "processingTimeMS": 1}

    # --- Trustpilot (company page with __NEXT_DATA__) --------------------------------
    def trustpilot_page(self, page: int) -> str:
        items = self.by_kind.get("trustpilot", [])
        per = PAGE["trustpilot"]
        total_pages = max(1, -(-len(items) // per))
        reviews = [{
            "id": f"6a{i.index:022x}", "title": i.title, "text": i.text, "rating": i.rating,
            "language": "en", "likes": 0, "reply": None,
            "labels": {"verification": {"isVerified": i.index % 3 == 0}},
            "dates": {"experiencedDate": i.created.strftime("%Y-%m-%dT00:00:00.000Z"),
                      "publishedDate": i.created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                      "updatedDate": None},
            "consumer": {"displayName": i.author, "countryCode": "GB", "numberOfReviews": 1}}
            for i in items[(page - 1) * per:page * per]]
        data = {"props": {"pageProps": {
            "businessUnit": {"displayName": dd.BRAND, "identifyingName": "larkspur.example",
                             "numberOfReviews": len(items)},
            "reviews": reviews,
            "filters": {"pagination": {"currentPage": page, "perPage": per,
                                       "totalCount": len(items), "totalPages": total_pages}}}},
            "page": "/review/[businessUnit]"}
        payload = json.dumps(data).replace("</", "<\\/")
        return ("<!DOCTYPE html><html lang='en'><head><title>Larkspur Reviews | Trustpilot"
                "</title></head><body><main><h1>Larkspur</h1></main>"
                f"<script id=\"__NEXT_DATA__\" type=\"application/json\">{payload}</script>"
                "</body></html>")

    # --- App Store (customer reviews RSS JSON) ----------------------------------------
    def appstore_page(self, page: int) -> dict[str, Any]:
        items = self.by_kind.get("appstore", [])
        per = PAGE["appstore"]
        entries = [{
            "author": {"name": {"label": i.author}, "uri": {"label": "https://itunes.apple.com/"}},
            "updated": {"label": i.created.astimezone(dt.timezone(dt.timedelta(hours=-7)))
                        .isoformat()},
            "im:rating": {"label": str(i.rating)}, "im:version": {"label": "4.2.0"},
            "id": {"label": str(9_000_000_000 + i.index)}, "title": {"label": i.title},
            "content": {"label": i.text, "attributes": {"type": "text"}},
            "im:voteSum": {"label": "0"}, "im:voteCount": {"label": "0"}}
            for i in items[(page - 1) * per:page * per]]
        return {"feed": {"author": {"name": {"label": "iTunes Store"}},
                         "entry": entries, "id": {"label": f"demo:{APP_ID}:{page}"}}}

    # --- Google Alerts (Atom) -----------------------------------------------------------
    def alerts_feed(self) -> str:
        def entry(item: dd.Item) -> str:
            real = f"https://{item.site}/2026/larkspur-{item.index}"
            link = ("https://www.google.com/url?rct=j&amp;sa=t&amp;url=" +
                    urllib.parse.quote(real, safe="") + "&amp;ct=ga&amp;cd=demo&amp;usg=demo")
            title = html.escape(item.title.replace(dd.BRAND, f"<b>{dd.BRAND}</b>"))
            body = html.escape(item.text.replace(dd.BRAND, f"<b>{dd.BRAND}</b>"))
            stamp = item.created.strftime("%Y-%m-%dT%H:%M:%SZ")
            return (f"<entry><id>tag:google.com,2013:googlealerts/feed:{7_000_000 + item.index}"
                    f"</id><title type=\"html\">{title}</title><link href=\"{link}\"/>"
                    f"<published>{stamp}</published><updated>{stamp}</updated>"
                    f"<content type=\"html\">{body}</content><author><name/></author></entry>")

        items = self.by_kind.get("alert", [])
        updated = items[0].created.strftime("%Y-%m-%dT%H:%M:%SZ") if items else ""
        return ("<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"http://www.w3.org/2005/"
                "Atom\" xmlns:idx=\"urn:atom-extension:indexing\"><id>tag:google.com,2005:reader/"
                "user/0451/state/com.google/alerts/larkspur</id><title>Google Alert - Larkspur"
                f"</title><link href=\"https://www.google.com/alerts/feeds/0451/larkspur\" "
                f"rel=\"self\"/><updated>{updated}</updated>"
                + "".join(entry(i) for i in items) + "</feed>")


def make_handler(catalog: DemoCatalog) -> type[BaseHTTPRequestHandler]:
    used = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet: the demo prints its own summary
            pass

        def _send(self, status: int, body: bytes | str, ctype: str,
                  headers: dict[str, str] | None = None) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json(self, payload: Any, headers: dict[str, str] | None = None) -> None:
            self._send(200, json.dumps(payload), "application/json; charset=utf-8", headers)

        def _reddit(self, payload: Any) -> None:
            # Reddit reports the OAuth client's budget on every answer: 100 queries a minute.
            with lock:
                used[0] += 1
                count = used[0]
            self._json(payload, {"x-ratelimit-used": str(count),
                                 "x-ratelimit-remaining": str(max(0, 600 - count)),
                                 "x-ratelimit-reset": "60"})

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if self.path.startswith("/api/v1/access_token"):
                self._json({"access_token": "demo-token", "token_type": "bearer",
                            "expires_in": 86400, "scope": "*"})
            else:
                self._send(404, "not found", "text/plain")

        def do_GET(self) -> None:  # noqa: N802
            parsed = urllib.parse.urlparse(self.path)
            path = parsed.path.rstrip("/") or "/"
            query = dict(urllib.parse.parse_qsl(parsed.query))
            sub = f"/r/{dd.SUBREDDIT}"
            if path == "/robots.txt":
                self._send(200, "User-agent: *\nAllow: /\n", "text/plain")
            elif path == FEED_PATH:
                self._send(200, catalog.alerts_feed(), "application/atom+xml; charset=utf-8")
            elif path == "/api/v1/search_by_date":
                self._json(catalog.hn_search(query))
            elif path in ("/search", "/r/all/search", f"{sub}/search"):
                self._reddit(catalog.reddit_listing("reddit_post", query))
            elif path == f"{sub}/new":
                self._reddit(catalog.reddit_listing("reddit_post", query))
            elif path == f"{sub}/comments":
                self._reddit(catalog.reddit_listing("reddit_comment", query))
            elif path == TRUSTPILOT_PATH:
                self._send(200, catalog.trustpilot_page(int(query.get("page", 1))),
                           "text/html; charset=utf-8")
            elif path.startswith("/us/rss/customerreviews/"):
                parts = dict(p.split("=", 1) for p in path.split("/") if "=" in p)
                self._json(catalog.appstore_page(int(parts.get("page", 1))))
            else:
                self._send(404, json.dumps({"message": "Not Found", "error": 404}),
                           "application/json")

    return Handler


class DemoServer:
    """The local stand-in for the internet, on 127.0.0.1 and a free port."""

    def __init__(self, end: dt.datetime | None = None) -> None:
        end = end or dt.datetime.now(dt.UTC)
        self.catalog = DemoCatalog(end)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.catalog))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> DemoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def demo_config(url: str, workdir: Path, port: int = 8001) -> str:
    """A config for the demo brand with every source pointed at the local server."""
    return f'''\
# Written by `earful demo`: every source points at the local demo server.
[earful]
database = "{workdir / 'earful.db'}"
contact = "https://github.com/earful/earful#demo"
datasette_url = "http://127.0.0.1:{port}"

[http]
min_delay_seconds = 0
max_pages = 40
respect_robots = true

[reddit]
username = "earful_demo"
oauth_url = "{url}"
reddit_url = "{url}"

[alerts]
recipients = ["support-lead@larkspur.example"]
sender = "earful@larkspur.example"
outbox = "{workdir / 'outbox'}"

[serve]
port = {port}

[[brands]]
name = "{dd.BRAND}"
keywords = ["larkspur", "\\"larkspur app\\""]
exclude = ["larkspur flower", "delphinium"]

[[brands.sources]]
type = "reddit"
search = true
subreddits = ["{dd.SUBREDDIT}"]
comments = false

[[brands.sources]]
type = "hackernews"
base_url = "{url}"

[[brands.sources]]
type = "trustpilot"
url = "{url}{TRUSTPILOT_PATH}"

[[brands.sources]]
type = "appstore"
app_id = "{APP_ID}"
base_url = "{url}"

[[brands.sources]]
type = "feed"
url = "{url}{FEED_PATH}"
'''


DEMO_ENV = {"EARFUL_REDDIT_CLIENT_ID": "demo-client", "EARFUL_REDDIT_CLIENT_SECRET": "demo-secret"}


def run_demo(workdir: Path, *, serve: bool, port: int, echo: Callable[[str], None],
             end: dt.datetime | None = None) -> int:
    """Build the demo from scratch in ``workdir``, run the pipeline, optionally serve it."""
    from . import config as cfg
    from . import db as store
    from .runner import run

    if workdir.exists():
        for name in ("earful.db", "earful.db-wal", "earful.db-shm", "outbox", "config.toml"):
            target = workdir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    with DemoServer(end) as server:
        config_file = workdir / "config.toml"
        config_file.write_text(demo_config(server.url, workdir, port), encoding="utf-8")
        raw = cfg.tomllib.loads(config_file.read_text(encoding="utf-8"))
        config = cfg.parse(raw, config_file, env=DEMO_ENV)
        echo(f"Demo: a local server at {server.url} offers {len(server.catalog.items)} "
             f"mentions of {dd.BRAND}; collecting them ...")
        outcome = run(config, command="demo")
    db = store.connect(config.database)
    try:
        by_source = db.execute("SELECT source, count(*) FROM mentions GROUP BY source "
                               "ORDER BY 2 DESC").fetchall()
        episodes = db.execute("SELECT opened_at, series, summary FROM episodes "
                              "ORDER BY series != 'all', opened_at").fetchall()
        sent = db.execute("SELECT delivered_to FROM alerts WHERE status = 'sent'").fetchall()
    finally:
        db.close()
    echo("Mentions stored: " + ", ".join(f"{s} {n}" for s, n in by_source))
    for opened_at, series, summary in episodes:
        scope = "all sources" if series == "all" else f"{series} alone; no second email"
        echo(f"Episode opened {opened_at} ({scope}): {summary}")
    echo(f"Alert emails ({len(sent)}) written to {Path(config.alerts['outbox']).resolve()}")
    for (path,) in sent:
        echo(f"  {path}")
    echo(f"Config: {config_file}   Database: {config.database}")
    code = 1 if outcome.result.failures else 0
    for failure in outcome.result.failures:
        echo(f"Problem: {failure}")
    if serve:
        from .serve import serve_forever

        echo(f"Datasette: http://127.0.0.1:{port}/  (Ctrl-C to stop)")
        serve_forever(config.database, "127.0.0.1", port)
    return code
