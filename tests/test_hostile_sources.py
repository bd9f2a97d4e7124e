"""The hostile-source suite: real `earful run` processes against sources that misbehave
on purpose, beside the offline demo's well-behaved ones (the same local server).

Bad items (lone UTF-16 surrogates in every source's text, a rating of 10**400, times a
datetime cannot hold) are repaired or skipped with a note while their siblings are
stored, and the run exits 0. Bad responses (a gzip bomb, a 50 MB page, a server
trickling one byte a second, in the body or in the headers, redirects to another port and
to a path robots.txt disallows) fail their source alone: exit 1, the others stored. A feed
of 100,000 entries is read up to its first 1,000. Every run is measured through the
run's own rusage (os.wait4, in a launcher): it must finish before its kill deadline, under
300 MB.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from collectors.base import Collector, Mention
from earful import db as store
from earful import pipeline
from earful.config import ConfigError
from tests import test_crash_safety as crash
from tests import test_faults as faults
from tests.conftest import make_config
from tests.helpers import Site
from tests.test_collect_googleplay import review as play_review
from tests.test_collect_googleplay import wire_answer, wire_review
from tests.test_crash_safety import EARFUL, env, workspace

server = crash.server
reference = crash.reference
hook = faults.hook

pytestmark = pytest.mark.slow

MAX_RSS_MB = 300
CUT = "\ud83d"  # the first half of an emoji, alone: what a cut-off title holds
T0 = 1795165200  # 2026-11-20T09:00:00Z
FAR = 10**20  # seconds: no datetime holds it
YEAR_MINUS_1199 = -99999999999
HUGE = 10**400


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    max_rss_mb: float
    seconds: float


# The run is started by this small launcher, which reads the run's own rusage (os.wait4).
# Not wait4 on a child of pytest itself: Linux counts in a child's ru_maxrss the memory of
# the process it was forked from, up to its exec; late in the full suite that is 300 MB.
LAUNCH = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def measured_run(config: Path, deadline: float) -> Finished:
    """`earful run`, its peak RSS from wait4; the whole group SIGKILLed at ``deadline``."""
    folder = config.parent
    out, err, usage = folder / "stdout.txt", folder / "stderr.txt", folder / "usage.txt"
    started = time.monotonic()
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", LAUNCH, str(usage), EARFUL, "run",
                                 "--config", str(config)], env=env(), cwd=folder,
                                stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(f"still running after {deadline} s: killed") from None
    seconds = time.monotonic() - started
    returncode, max_rss_kib = (int(n) for n in usage.read_text().split())
    return Finished(returncode, out.read_text(), err.read_text(), max_rss_kib / 1024, seconds)


def rows(config: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(config.parent / "earful.db")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def demo_ids_all_stored(config: Path, reference) -> None:
    """The well-behaved sources lost nothing: every id of an undisturbed demo run."""
    stored = {r[0] for r in rows(config, "SELECT id FROM mentions")}
    missing = {r[0] for r in reference["snapshot"]["mentions"]} - stored
    assert not missing, f"{len(missing)} demo mentions missing, e.g. {sorted(missing)[:3]}"


# --- bad items --------------------------------------------------------------------------
def reddit_listing(*things: dict) -> dict:
    return {"kind": "Listing", "data": {"children": list(things), "after": None,
                                        "before": None, "dist": len(things)}}


def reddit_post(pid: str, created: float, title: str, body: str = "") -> dict:
    return {"kind": "t3", "data": {
        "id": pid, "name": f"t3_{pid}", "title": title, "selftext": body, "author": "sam",
        "subreddit": "hostile", "permalink": f"/r/hostile/comments/{pid}/x/",
        "url": "https://www.reddit.com/r/hostile/", "created_utc": created, "score": 2,
        "num_comments": 0, "is_self": True, "removed_by_category": None}}


def reddit_comment(cid: str, created: float, body: str) -> dict:
    return {"kind": "t1", "data": {
        "id": cid, "name": f"t1_{cid}", "body": body, "author": "kim", "subreddit": "hostile",
        "link_id": "t3_hgood", "parent_id": "t3_hgood", "created_utc": created, "score": 1,
        "replies": ""}}


def hn_hit(oid: str, created: object, title: str, *, comment: str | None = None,
           points: object = 3) -> dict:
    tags = ["comment"] if comment is not None else ["story"]
    return {"objectID": oid, "title": None if comment is not None else title, "url": None,
            "author": "pg", "points": points, "story_text": None, "comment_text": comment,
            "story_id": 1 if comment is not None else None, "created_at_i": created,
            "created_at": "2026-11-20T09:00:00.000Z", "_tags": tags}


def appstore_entry(rid: str, updated: str, rating: object, title: str) -> dict:
    return {"id": {"label": rid}, "updated": {"label": updated},
            "im:rating": {"label": rating}, "im:version": {"label": "1.0"},
            "title": {"label": title}, "content": {"label": "larkspur app review"},
            "author": {"name": {"label": "ann"}}}


def trustpilot_review(rid: str, published: object, rating: object, text: str) -> dict:
    return {"id": rid, "title": "Larkspur", "text": text, "rating": rating, "language": "en",
            "dates": {"publishedDate": published}, "consumer": {"displayName": "bo"},
            "labels": {}, "likes": 0, "reply": None}


def page_with(script: str) -> str:
    return f"<!DOCTYPE html><html><body><h1>Larkspur</h1>{script}</body></html>"


HOSTILE_ITEMS = {  # path -> (content type, body); every JSON is dumped with \ud83d escapes
    "/r/hostile/new": ("application/json", json.dumps(reddit_listing(
        reddit_post("hgood", T0, "Larkspur post that is fine"),
        reddit_post("hcut", T0 - 60, f"Larkspur is great {CUT}"),
        reddit_post("hfar", FAR, "Larkspur from the far future"),
        reddit_post("hold", YEAR_MINUS_1199, "Larkspur from year -1199")))),
    "/r/hostile/comments": ("application/json", json.dumps(reddit_listing(
        reddit_comment("cgood", T0, "larkspur comment, fine"),
        reddit_comment("ccut", T0 - 30, f"larkspur comment {CUT} cut")))),
    "/hostile/hn/api/v1/search_by_date": ("application/json", json.dumps({
        "hits": [hn_hit("901", T0, "Larkspur launches"),
                 hn_hit("902", T0 - 5, f"Larkspur {CUT} story"),
                 hn_hit("903", T0 - 9, "", comment="larkspur &#xD83D; entity"),
                 hn_hit("904", FAR, "Larkspur far future"),
                 hn_hit("905", YEAR_MINUS_1199, "Larkspur year -1199"),
                 hn_hit("906", T0 - 20, "Larkspur points", points=HUGE)],
        "nbPages": 1, "page": 0})),
    "/hostile/as/us/rss/customerreviews/page=1/id=1555000999/sortby=mostrecent/json": (
        "application/json", json.dumps({"feed": {"entry": [
            appstore_entry("a1", "2026-11-20T09:00:00-07:00", "4", "fine"),
            appstore_entry("a2", "2026-11-20T08:00:00-07:00", "2", f"cut {CUT}"),
            appstore_entry("a3", "2026-11-20T07:00:00-07:00", HUGE, "huge rating"),
            appstore_entry("a4", str(YEAR_MINUS_1199), "3", "year -1199")]}})),
    "/hostile/tp": ("text/html; charset=utf-8", page_with(
        '<script id="__NEXT_DATA__" type="application/json">' + json.dumps({"props": {
            "pageProps": {"reviews": [
                trustpilot_review("t1", "2026-11-20T09:00:00.000Z", 5, "fine"),
                trustpilot_review("t2", "2026-11-20T08:00:00.000Z", 1, f"cut {CUT}"),
                trustpilot_review("t3", "2026-11-20T07:00:00.000Z", HUGE, "huge rating"),
                trustpilot_review("t4", FAR, 3, "far future")],
                "filters": {"pagination": {"totalPages": 1}}}}}).replace("</", "<\\/")
        + "</script>")),
    "/hostile/product": ("text/html; charset=utf-8", page_with(
        '<script type="application/ld+json">' + json.dumps({
            "@context": "https://schema.org", "@type": "Product", "name": "Larkspur",
            "review": [
                {"@type": "Review", "@id": "s1", "reviewBody": "fine", "author": "al",
                 "datePublished": "2026-11-20", "reviewRating": {"ratingValue": 4}},
                {"@type": "Review", "@id": "s2", "reviewBody": f"cut {CUT}", "author": "al",
                 "datePublished": "2026-11-20", "reviewRating": {"ratingValue": 2}},
                {"@type": "Review", "@id": "s3", "reviewBody": "huge", "author": "al",
                 "datePublished": FAR, "reviewRating": {"ratingValue": HUGE}}]})
        + "</script>")),
    "/hostile/feed": ("application/rss+xml", (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        "<item><guid>tag:hostile,2026:f1</guid><title>Larkspur fine</title>"
        "<pubDate>Fri, 20 Nov 2026 09:00:00 GMT</pubDate></item>"
        "<item><guid>tag:hostile,2026:f2</guid><title>Larkspur &#xD83D; cut</title>"
        "<pubDate>Fri, 20 Nov 2026 08:00:00 GMT</pubDate></item>"
        "<item><guid>tag:hostile,2026:f3</guid><title>Larkspur &#x110000; beyond Unicode</title>"
        "<pubDate>Fri, 20 Nov 2026 07:00:00 GMT</pubDate></item>"
        "<item><guid>tag:hostile,2026:f4</guid><title>Larkspur year -1199</title>"
        "<pubDate>Mon, 01 Jan -1199 00:00:00 GMT</pubDate></item>"
        "</channel></rss>")),
}


def play_answer() -> str:
    good, cut, huge, far = (play_review(1, T0), play_review(2, T0 - 60),
                            play_review(3, T0 - 90, score=HUGE), play_review(4, FAR))
    cut["content"] = f"larkspur {CUT} cut"
    return wire_answer([wire_review(r) for r in (good, cut, huge, far)])


def serve_hostile_items(handler, path, query) -> bool:
    path = path.rstrip("/")
    if path == "/hostile/gp/_/PlayStoreUi/data/batchexecute":
        handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        handler._send(200, play_answer(), "application/json; charset=utf-8")
        return True
    if path.startswith("/hostile/as/") and "page=1/" not in path:
        handler._send(200, json.dumps({"feed": {"entry": []}}), "application/json")
        return True
    if path in HOSTILE_ITEMS:
        ctype, body = HOSTILE_ITEMS[path]
        handler._send(200, body, ctype)
        return True
    return False


def items_config(server, folder: Path) -> Path:
    config = workspace(server, folder)
    url = server.url
    config.write_text(config.read_text() + f'''
[[brands.sources]]
type = "reddit"
search = false
subreddits = ["hostile"]
comments = false

[[brands.sources]]
type = "hackernews"
query = "larkspur hostile"
base_url = "{url}/hostile/hn"

[[brands.sources]]
type = "appstore"
app_id = "1555000999"
base_url = "{url}/hostile/as"

[[brands.sources]]
type = "googleplay"
app_id = "com.larkspur.app"
base_url = "{url}/hostile/gp"

[[brands.sources]]
type = "trustpilot"
url = "{url}/hostile/tp"

[[brands.sources]]
type = "schemaorg"
url = "{url}/hostile/product"

[[brands.sources]]
type = "feed"
url = "{url}/hostile/feed"
''')
    return config


def test_bad_items_are_repaired_or_skipped_and_their_siblings_stored(server, reference, hook,
                                                                     tmp_path):
    hook(serve_hostile_items)
    config = items_config(server, tmp_path / "w")
    result = measured_run(config, deadline=240)
    assert result.returncode == 0, result.stderr
    assert result.max_rss_mb < MAX_RSS_MB, result.max_rss_mb
    demo_ids_all_stored(config, reference)
    stored = {r[0]: r[1:] for r in rows(
        config, "SELECT id, title, body, rating, extra FROM mentions WHERE id IN "
        "('reddit:t3_hgood', 'reddit:t3_hcut', 'reddit:t1_cgood', 'reddit:t1_ccut', "
        "'hackernews:901', 'hackernews:902', 'hackernews:903', 'hackernews:906', "
        "'appstore:a1', 'appstore:a2', 'appstore:a3', 'googleplay:r1', 'googleplay:r2', "
        "'googleplay:r3', 'trustpilot:t1', 'trustpilot:t2', 'trustpilot:t3', "
        "'schemaorg:s1', 'schemaorg:s2', 'schemaorg:s3', 'feed:tag:hostile,2026:f1', "
        "'feed:tag:hostile,2026:f2', 'feed:tag:hostile,2026:f3', 'feed:tag:hostile,2026:f4')")}
    assert len(stored) == 24, sorted(stored)
    # Text with a lone surrogate is stored with U+FFFD in its place, in every source.
    for mention_id, column in [("reddit:t3_hcut", 0), ("reddit:t1_ccut", 1),
                               ("hackernews:902", 0), ("hackernews:903", 1),
                               ("appstore:a2", 0), ("googleplay:r2", 1), ("trustpilot:t2", 1),
                               ("schemaorg:s2", 1), ("feed:tag:hostile,2026:f2", 0),
                               ("feed:tag:hostile,2026:f3", 0)]:
        assert "\ufffd" in stored[mention_id][column], (mention_id, stored[mention_id])
    # A rating of 10**400 is no rating; the review itself is kept.
    for mention_id in ("appstore:a3", "googleplay:r3", "trustpilot:t3", "schemaorg:s3"):
        assert stored[mention_id][2] is None, (mention_id, stored[mention_id])
    assert json.loads(stored["hackernews:906"][3])["points"] is None
    # Times no datetime holds: the item is skipped (or dated when seen, where the source
    # may lack a date), never the page.
    gone = {r[0] for r in rows(config, "SELECT id FROM mentions WHERE id IN ('reddit:t3_hfar', "
                               "'reddit:t3_hold', 'hackernews:904', 'hackernews:905', "
                               "'appstore:a4', 'googleplay:r4', 'trustpilot:t4')")}
    assert gone == set()
    assert json.loads(stored["feed:tag:hostile,2026:f4"][3]) == {"date_missing": True}
    # Each skip is one warning naming the source, the item and the field.
    warned = [line for line in result.stderr.splitlines() if "skipped" in line]
    for source, item, field in [("reddit", "t3_hfar", "created_utc"),
                                ("reddit", "t3_hold", "created_utc"),
                                ("hackernews", "904", "created_at_i"),
                                ("hackernews", "905", "created_at_i"),
                                ("appstore", "a4", "updated"),
                                ("googleplay", "r4", "[5][0]"),
                                ("trustpilot", "t4", "dates.publishedDate")]:
        assert [line for line in warned if f" {source} " in line and f"'{item}'" in line
                and f"field {field}" in line], (source, item, result.stderr)
    # Each source's run is ok, and says what it skipped or repaired.
    runs = dict(rows(config, "SELECT source || ' ' || target, status || ': ' || "
                     "coalesce(message, '') FROM source_runs"))
    assert all(v.startswith("ok") for v in runs.values()), runs
    assert "1 item(s) skipped" in runs["trustpilot " + f"{server.url}/hostile/tp"]
    assert "field(s) repaired, first: hackernews:902: title: invalid characters" in \
        runs["hackernews larkspur hostile"]


# --- bad responses ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """512 MB of zeros in about 510 KB of gzip, compressed a MB at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    bomb = b"".join(packer.compress(zeros) for _ in range(512)) + packer.flush()
    assert len(bomb) < 600_000
    return bomb


def trickle(handler, data: bytes) -> None:
    """One byte a second until the client goes away (or ten minutes)."""
    with contextlib.suppress(OSError):
        for byte in data[:600]:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(1)
    handler.close_connection = True


def hostile_responses(bomb: bytes, elsewhere: str):
    def answer(handler, path, query) -> bool:
        if path == "/robots.txt":
            handler._send(200, "User-agent: *\nDisallow: /private\n", "text/plain")
        elif path in ("/hostile/bomb.xml", "/r/bomb/new"):
            handler._send(200, bomb, "application/json", {"Content-Encoding": "gzip"})
        elif path == "/hostile/huge":  # 50 MB, no Content-Length: only counting stops it
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Connection", "close")
            handler.end_headers()
            block = b"<p>" + b"larkspur " * 1000 + b"</p>\n"
            with contextlib.suppress(OSError):
                for _ in range(50_000_000 // len(block)):
                    handler.wfile.write(block)
            handler.close_connection = True
        elif path.startswith(("/hostile/trickle-body", "/r/slow/new")):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            trickle(handler, b'{"hits": [' + b" " * 990 + b"]}")
        elif path.startswith("/hostile/trickle-headers"):
            trickle(handler, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" * 20)
        elif path in ("/r/bomb/comments/", "/r/slow/comments/"):
            handler._send(200, json.dumps(reddit_listing()), "application/json")
        elif path == "/hostile/moved-feed":
            handler._send(302, "", "text/plain", {"Location": f"{elsewhere}/feed"})
        elif path == "/hostile/moved-page":
            handler._send(302, "", "text/plain", {"Location": "/private/review/larkspur"})
        else:
            return False
        return True

    return answer


def test_bad_responses_fail_their_source_alone_within_the_deadline(
        server, reference, hook, gzip_bomb, tmp_path):
    with Site() as other:
        other.route("/feed", HOSTILE_ITEMS["/hostile/feed"][1], "application/rss+xml")
        hook(hostile_responses(gzip_bomb, other.url))
        config = workspace(server, tmp_path / "w")
        url = server.url
        text = config.read_text().replace(
            "[http]\n", "[http]\nrequest_deadline_seconds = 3\nmax_retries = 1\n")
        config.write_text(text + f'''
[[brands.sources]]
type = "feed"
url = "{url}/hostile/bomb.xml"

[[brands.sources]]
type = "schemaorg"
url = "{url}/hostile/huge"

[[brands.sources]]
type = "hackernews"
query = "larkspur slow"
base_url = "{url}/hostile/trickle-body"

[[brands.sources]]
type = "appstore"
app_id = "1555000777"
base_url = "{url}/hostile/trickle-headers"

[[brands.sources]]
type = "feed"
url = "{url}/hostile/moved-feed"

[[brands.sources]]
type = "schemaorg"
url = "{url}/hostile/moved-page"

[[brands.sources]]
type = "reddit"
search = false
subreddits = ["bomb", "slow"]
comments = false
''')
        result = measured_run(config, deadline=240)
        assert other.hits == []  # the other host was never asked
    assert result.returncode == 1, result.stderr  # README: 1 when a source failed
    assert result.max_rss_mb < MAX_RSS_MB, result.max_rss_mb
    demo_ids_all_stored(config, reference)
    assert result.stderr.strip().splitlines()[-1].startswith("earful: 7 problem(s) in run 1")
    runs = {r[0]: r[1:] for r in rows(
        config, "SELECT target, status, message, duration_s FROM source_runs "
        "WHERE target LIKE '%hostile%' OR target LIKE '%slow%' OR target LIKE '%777' "
        "OR target = 'r/bomb/new'")}
    by = {name: next(v for k, v in runs.items() if name in k)
          for name in ("bomb.xml", "huge", "larkspur slow", "1555000777", "moved-feed",
                       "moved-page", "r/bomb/new", "r/slow/new")}
    assert by["bomb.xml"][:1] == ("error",) and "response too large" in by["bomb.xml"][1]
    assert "more than 10,000,000 bytes (decoded)" in by["bomb.xml"][1]
    assert by["huge"][0] == "error" and "response too large" in by["huge"][1]
    # PRAW's own transport has the same caps.
    assert by["r/bomb/new"][0] == "error"
    assert "response too large: more than 10,000,000 bytes" in by["r/bomb/new"][1]
    for slow in ("larkspur slow", "1555000777", "r/slow/new"):
        status, message, duration = by[slow]
        assert status == "error" and "no complete answer within 3 s" in message, message
        assert duration < 3 * 3, duration  # cut at its 3 s deadline, not retried
    status, message, _ = by["moved-feed"]
    assert status == "error" and f"to {other.url}/feed: another host" in message
    assert f"redirected from {server.url}/hostile/moved-feed" in message
    # The disallowed path behind the redirect is never fetched: skipped like any page
    # robots.txt disallows, with one warning line.
    assert by["moved-page"][0] == "ok"
    assert "/private/review/larkspur" in result.stderr and "robots.txt disallows" in \
        result.stderr


def test_a_feed_of_100k_entries_is_read_up_to_its_first_thousand(server, reference, hook,
                                                                 tmp_path):
    entries = "".join(f"<item><guid>tag:n,1:{i}</guid><title>Larkspur {i}</title></item>"
                      for i in range(100_000))
    feed = ('<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>'
            f"{entries}</channel></rss>").encode()
    assert len(feed) < 10_000_000  # under the size cap: the entry cap is what holds

    def answer(handler, path, query) -> bool:
        if path == "/hostile/100k.xml":
            handler._send(200, gzip.compress(feed), "application/rss+xml",
                          {"Content-Encoding": "gzip"})
            return True
        return False

    hook(answer)
    config = workspace(server, tmp_path / "w")
    config.write_text(config.read_text() + f'''
[[brands.sources]]
type = "feed"
url = "{server.url}/hostile/100k.xml"
''')
    result = measured_run(config, deadline=240)
    assert result.returncode == 0, result.stderr
    assert result.max_rss_mb < MAX_RSS_MB, result.max_rss_mb
    demo_ids_all_stored(config, reference)
    ids = {r[0] for r in rows(config, "SELECT native_id FROM mentions WHERE target LIKE "
                              "'%100k.xml'")}
    assert ids == {f"tag:n,1:{i}" for i in range(1000)}



# --- the save path ----------------------------------------------------------------------
class Scripted(Collector):
    """A source whose answers are given: the store and the pipeline around it are real."""

    def __init__(self, source: str, mentions: list[Mention], then: Exception | None) -> None:
        super().__init__()
        self.source, self.mentions, self.then = source, mentions, then

    def collect(self, target, cursor):
        yield from self.mentions
        if self.then is not None:
            raise self.then


def scripted(source: str, native_id: str, created_at: str | None = "2026-11-20T09:00:00Z",
             title: str = "Larkspur") -> Mention:
    return Mention(source=source, native_id=native_id, kind="review", target="t",
                   created_at=created_at, title=title)


def test_a_mention_the_store_refuses_costs_only_itself_and_the_next_source_runs(tmp_path):
    config = make_config(tmp_path, '''
[[brands.sources]]
type = "schemaorg"
url = "https://a.example/"

[[brands.sources]]
type = "schemaorg"
url = "https://b.example/"
''')
    first = Scripted("alpha", [scripted("alpha", "1"), scripted("alpha", "2", created_at=None),
                               scripted("alpha", "3", title=f"cut {CUT}")],
                     then=ValueError("a parser bug after three items"))
    second = Scripted("beta", [scripted("beta", "1")], then=None)
    pairs = iter([[(first, "https://a.example/")], [(second, "https://b.example/")]])
    db = store.connect(config.database)
    try:
        run_id = store.start_run(db, "collect", os.getpid())
        result = pipeline.collect(db, config, run_id, lambda *args: next(pairs))
        stored = {r[0]: r[1] for r in db.execute("SELECT id, title FROM mentions")}
        runs = dict(db.execute("SELECT source, status || ': ' || coalesce(message, '') "
                               "FROM source_runs"))
    finally:
        db.close()
    assert stored == {"alpha:1": "Larkspur", "alpha:3": "cut \ufffd", "beta:1": "Larkspur"}
    assert result.failures == [
        "Larkspur: alpha https://a.example/: ValueError: a parser bug after three items"]
    assert runs["alpha"].startswith("error: alpha https://a.example/: ValueError: a parser bug "
                                    "after three items; "
                                    "1 item(s) skipped, first: item '2': not stored: "
                                    "IntegrityError: NOT NULL constraint failed"), runs
    assert "alpha:3: title: invalid characters" in runs["alpha"]
    assert runs["beta"] == "ok: ", runs


@pytest.mark.parametrize("setting", ["max_response_mb = 0", "request_deadline_seconds = -1",
                                     "source_deadline_seconds = nan", "max_response_mb = inf",
                                     "redirect_hosts = [1]"])
def test_a_limit_that_would_disable_itself_is_a_config_error(tmp_path, setting):
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, f"\n[http]\n{setting}\n")
    key = setting.split(" = ")[0]
    assert f"http.{key}: expected" in str(caught.value) and "\n" not in str(caught.value)
