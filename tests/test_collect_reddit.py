"""Reddit collector through a real praw.Reddit talking to a local HTTP server on 127.0.0.1.

This also proves what the offline demo needs: ``oauth_url``/``reddit_url`` pointing at a
plain-HTTP local server work, and which endpoints and parameters PRAW calls.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from collectors.reddit import RateBudget, RedditCollector, RedditError, make_reddit

T0 = 1795165200  # 2026-11-20T09:00:00Z


def post(pid: str, created: int, **fields) -> dict:
    data = {"id": pid, "name": f"t3_{pid}", "title": f"Larkspur post {pid}", "selftext": "",
            "author": "sam", "subreddit": "larkspur", "created_utc": created, "score": 5,
            "num_comments": 0, "is_self": True,
            "permalink": f"/r/larkspur/comments/{pid}/x/", "url": "https://x"}
    data.update(fields)
    return {"kind": "t3", "data": data}


def comment(cid: str, created: int, link: str, **fields) -> dict:
    data = {"id": cid, "name": f"t1_{cid}", "body": "meh", "author": "kim",
            "subreddit": "larkspur", "created_utc": created, "link_id": f"t3_{link}",
            "parent_id": f"t3_{link}", "score": 1, "replies": "",
            "permalink": f"/r/larkspur/comments/{link}/x/{cid}/"}
    data.update(fields)
    return {"kind": "t1", "data": data}


def listing(*children: dict) -> dict:
    return {"kind": "Listing", "data": {"children": list(children), "after": None,
                                        "before": None}}


class FakeReddit:
    """Answers PRAW like reddit.com would; remembers every request it got."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], tuple[int, object, dict]] = {}
        self.calls: list[tuple[str, str, dict]] = []
        self.route("POST", "/api/v1/access_token",
                   {"access_token": "tok", "token_type": "bearer", "expires_in": 3600,
                    "scope": "*"})
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                fake.calls.append((method, parts.path, {
                    **{k: v[0] for k, v in parse_qs(parts.query).items()},
                    **{k: v[0] for k, v in parse_qs(body).items()},
                    "_auth": self.headers.get("Authorization", ""),
                    "_ua": self.headers.get("User-Agent", "")}))
                status, payload, headers = fake.routes.get(
                    (method, parts.path.rstrip("/")), (404, {"error": 404}, {}))
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # noqa: N802
                self._answer("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, method: str, path: str, payload: object, status: int = 200,
              headers: dict | None = None) -> None:
        self.routes[(method, path.rstrip("/"))] = (status, payload, headers or {})

    def api_calls(self) -> list[tuple[str, str, dict]]:
        return [c for c in self.calls if c[1] != "/api/v1/access_token"]


@pytest.fixture
def fake(monkeypatch):
    # prawcore sleeps between retries of a 5xx: no real waiting in tests.
    monkeypatch.setattr("prawcore.sessions.time.sleep", lambda s: None)
    monkeypatch.setattr("prawcore.rate_limit.time.sleep", lambda s: None)
    server = FakeReddit()
    yield server
    server.server.shutdown()
    server.server.server_close()


def collector(fake: FakeReddit, **kwargs) -> RedditCollector:
    budget = RateBudget()
    reddit = make_reddit(client_id="cid", client_secret="secret",
                         user_agent="earful/test (by u/tester)", oauth_url=fake.url,
                         reddit_url=fake.url, budget=budget)
    return RedditCollector(reddit, budget=budget, **kwargs)


def test_praw_works_against_a_local_plain_http_server(fake):
    fake.route("GET", "/r/larkspur/new", listing(
        post("b2", T0 + 60, selftext="Larkspur is down again \U0001F621"),
        post("a1", T0, author="[deleted]", selftext="[removed]",
             removed_by_category="moderator")))
    c = collector(fake, limit=100)
    cursor: dict = {}
    mentions = list(c.collect("r/larkspur/new", cursor))

    token_call, listing_call = fake.calls
    assert token_call[0:2] == ("POST", "/api/v1/access_token")
    assert token_call[2]["grant_type"] == "client_credentials"
    assert token_call[2]["_auth"].startswith("Basic ")  # client id + secret
    assert listing_call[0:2] == ("GET", "/r/larkspur/new")
    assert listing_call[2]["limit"] == "100" and listing_call[2]["raw_json"] == "1"
    assert listing_call[2]["_auth"] == "bearer tok"
    assert listing_call[2]["_ua"].startswith("earful/test (by u/tester)")

    assert [m.id for m in mentions] == ["reddit:t3_b2", "reddit:t3_a1"]
    assert mentions[0].body == "Larkspur is down again \U0001F621"
    assert mentions[0].created_at == "2026-11-20T09:01:00Z"
    assert mentions[0].url == "https://www.reddit.com/r/larkspur/comments/b2/x/"
    assert (mentions[1].deleted, mentions[1].author, mentions[1].body) == (True, None,
                                                                           "[removed]")
    assert cursor == {"newest_utc": T0 + 60}
    assert c.stats.requests == 2


def test_next_run_stops_at_items_older_than_the_cursor_minus_overlap(fake):
    fake.route("GET", "/r/larkspur/comments", listing(
        comment("c3", T0 + 7200, "b2"), comment("c2", T0 + 1000, "b2"),
        comment("c1", T0 - 5000, "b2")))
    c = collector(fake, limit=100, overlap_seconds=3600)
    mentions = list(c.collect("r/larkspur/comments", {"newest_utc": T0 + 3000}))
    assert [m.native_id for m in mentions] == ["t1_c3", "t1_c2"]
    assert mentions[0].parent_id == "reddit:t3_b2" and mentions[0].kind == "comment"


def test_search_sorts_new_site_wide(fake):
    fake.route("GET", "/r/all/search", listing(post("s1", T0)))
    mentions = list(collector(fake, limit=100).collect('search:"larkspur cloud"', {}))
    assert [m.native_id for m in mentions] == ["t3_s1"]
    params = fake.api_calls()[0][2]
    assert (params["q"], params["sort"], params["t"], params["restrict_sr"]) == (
        '"larkspur cloud"', "new", "all", "False")


def test_matched_posts_get_their_comment_tree_with_bounded_replace_more(fake):
    fake.route("GET", "/r/larkspur/new", listing(post("p1", T0, num_comments=2),
                                                 post("p2", T0 - 10)))
    tree_post = post("p1", T0, num_comments=2)
    fake.route("GET", "/comments/p1", [listing(tree_post), listing(
        comment("k1", T0 + 5, "p1", body="[deleted]", author="[deleted]"),
        {"kind": "more", "data": {"count": 40, "name": "t1_more", "id": "more",
                                  "parent_id": "t3_p1", "depth": 0,
                                  "children": ["x1", "x2"]}})])
    c = collector(fake, limit=100, replace_more_limit=0,
                  expand=lambda m: m.native_id == "t3_p1")
    mentions = list(c.collect("r/larkspur/new", {}))
    assert [m.native_id for m in mentions] == ["t3_p1", "t1_k1", "t3_p2"]
    assert mentions[1].deleted and mentions[1].author is None
    assert "1 'more comments' not expanded" in c.stats.notes[0]
    assert [c[1] for c in fake.api_calls()] == ["/r/larkspur/new", "/comments/p1/"]


@pytest.mark.parametrize(("status", "headers", "expected", "rate_limited"), [
    (403, {}, "HTTP 403 forbidden", False),
    (404, {}, "HTTP 404 not found", False),
    (429, {"Retry-After": "30"}, "HTTP 429 rate limited, Retry-After 30 s", True),
    (503, {}, "HTTP 503 server error", False),
])
def test_prawcore_errors_become_reddit_errors_with_the_status(fake, status, headers,
                                                              expected, rate_limited):
    fake.route("GET", "/r/larkspur/new", {"error": status}, status=status, headers=headers)
    with pytest.raises(RedditError) as info:
        list(collector(fake, limit=100).collect("r/larkspur/new", {}))
    assert expected in str(info.value) and str(info.value).startswith("reddit ")
    assert info.value.status == status and info.value.rate_limited is rate_limited
    assert f"{fake.url}/r/larkspur/new" in str(info.value)


def test_bad_json_is_a_reddit_error(fake):
    fake.route("GET", "/r/larkspur/new", b'{"kind": "Listing", "data": {"chil')
    with pytest.raises(RedditError, match="malformed JSON in a 200 response"):
        list(collector(fake, limit=100).collect("r/larkspur/new", {}))


def test_connection_refused_is_a_reddit_error(monkeypatch):
    monkeypatch.setattr("prawcore.sessions.time.sleep", lambda s: None)
    reddit = make_reddit(client_id="c", client_secret="s", user_agent="earful/test",
                         oauth_url="http://127.0.0.1:9", reddit_url="http://127.0.0.1:9")
    with pytest.raises(RedditError, match="request failed"):
        list(RedditCollector(reddit).collect("r/larkspur/new", {}))


def test_unknown_target_is_rejected(fake):
    with pytest.raises(RedditError, match="unknown target"):
        list(collector(fake).collect("larkspur", {}))


def test_rate_budget_never_exceeds_the_per_minute_limit():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = RateBudget(per_minute=3, sleep=sleep, clock=lambda: now[0])
    for _ in range(3):
        budget.acquire()
        now[0] += 1
    budget.acquire()  # the 4th inside the same minute waits until the 1st is 60 s old
    assert slept == [57.0] and budget.count == 4
