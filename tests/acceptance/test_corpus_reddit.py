"""Recorded reddit.com traffic replayed through PRAW itself into RedditCollector.

PRAW cassettes are replayed by betamax at the transport (requests adapter); the expected
ids, authors and deleted flags are read independently from the raw recorded bodies.
prawcore's error cassettes drive the failure tests. Reddit's public .json answers (same
schema as the OAuth API) are served with ``responses``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import responses

from collectors.reddit import (
    GONE,
    BudgetedSession,
    RateBudget,
    RedditCollector,
    RedditError,
    make_reddit,
)

from .conftest import Betamax, corpus_path

pytestmark = pytest.mark.skipif(Betamax is None, reason="betamax is not installed")

PRAW = ("reddit", "praw_cassettes")
PRAWCORE = ("reddit", "prawcore_cassettes")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    # prawcore waits between retries and for rate-limit windows: not in tests.
    monkeypatch.setattr("prawcore.sessions.time.sleep", lambda s: None)
    monkeypatch.setattr("prawcore.rate_limit.time.sleep", lambda s: None)


def replay(folder: tuple[str, str], cassette: str, target: str, *,
           match: tuple[str, ...] = ("method", "uri"), placeholders: dict | None = None,
           repeats: bool = False, **options):
    """Run the collector on ``target`` with HTTP answered from the cassette."""
    path = corpus_path(*folder, f"{cassette}.json")
    budget = RateBudget()
    session = BudgetedSession(budget)
    recorder = Betamax(session, cassette_library_dir=str(path.parent))
    collector = None
    with recorder.use_cassette(
        cassette, serialize_with="praw-cassette", record="none", match_requests_on=list(match),
        placeholders=[{"placeholder": k, "replace": v} for k, v in (placeholders or {}).items()],
        allow_playback_repeats=repeats,
    ):
        reddit = make_reddit(client_id="id", client_secret="secret",
                             user_agent="earful acceptance tests", session=session)
        collector = RedditCollector(reddit, budget=budget, **options)
        mentions = list(collector.collect(target, {}))
    return mentions, collector


def recorded(folder: tuple[str, str], cassette: str, kind: str) -> list[dict]:
    """Every distinct ``kind`` thing (t1/t3) in the cassette's recorded bodies, in order."""
    data = json.loads(Path(corpus_path(*folder, f"{cassette}.json")).read_text())
    found: dict[str, dict] = {}
    stack: list = []
    for interaction in data["interactions"]:
        body = interaction["response"]["body"].get("string") or ""
        try:
            stack.append(json.loads(body))
        except json.JSONDecodeError:
            continue
        while stack:
            node = stack.pop(0)
            if isinstance(node, dict):
                if node.get("kind") == kind and isinstance(node.get("data"), dict):
                    found.setdefault(node["data"]["name"], node["data"])
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return list(found.values())


def test_subreddit_new_100_posts():
    mentions, collector = replay(PRAW, "TestSubredditListings.test_new", "r/askreddit/new",
                                 limit=100)
    posts = recorded(PRAW, "TestSubredditListings.test_new", "t3")
    assert len(mentions) == len(posts) == 100
    assert [m.native_id for m in mentions] == [p["name"] for p in posts]
    assert [m.author for m in mentions] == [None if p["author"] in GONE else p["author"]
                                            for p in posts]
    assert {m.kind for m in mentions} == {"post"}
    assert {m.extra["subreddit"] for m in mentions} == {"AskReddit"}
    assert all(m.created_at.startswith("2016-03-01T") for m in mentions)
    assert mentions[0].url == "https://www.reddit.com" + posts[0]["permalink"]
    assert collector.stats.requests == 2  # the token and one listing page


def test_subreddit_comments_100_comments():
    mentions, _ = replay(PRAW, "TestSubredditListings.test_comments", "r/askreddit/comments",
                         limit=100)
    comments = recorded(PRAW, "TestSubredditListings.test_comments", "t1")
    assert len(mentions) == 100
    assert [m.native_id for m in mentions] == [c["name"] for c in comments]
    assert [m.body for m in mentions] == [c["body"] for c in comments]
    assert [m.parent_id for m in mentions] == [f"reddit:{c['link_id']}" for c in comments]
    assert sum(m.deleted for m in mentions) == sum(c["body"] in GONE for c in comments)


def test_site_wide_search_6_submissions():
    # Recorded with sort=relevance by an older PRAW; we ask sort=new: match method+path.
    mentions, _ = replay(PRAW, "TestSubreddit.test_search", "search:praw oauth search",
                         match=("method", "path"), limit=100)
    posts = recorded(PRAW, "TestSubreddit.test_search", "t3")
    assert len(mentions) == 6
    assert [m.native_id for m in mentions] == [p["name"] for p in posts]
    assert {m.extra["subreddit"] for m in mentions} == {p["subreddit"] for p in posts}
    assert "redditdev" in {m.extra["subreddit"] for m in mentions}


def test_front_of_r_all_new_stream_first_page():
    mentions, _ = replay(PRAW, "TestSubredditStreams.test_submissions", "r/all/new",
                         limit=100)
    assert len(mentions) == 100
    assert len({m.extra["subreddit"] for m in mentions}) > 10


def test_comment_stream_with_test_subreddit_placeholder():
    mentions, _ = replay(PRAW, "TestSubredditStreams.test_comments__with_continue_after_id",
                         "r/earful_test/comments", placeholders={"<TEST_SUBREDDIT>":
                                                                 "earful_test"}, limit=100)
    first_page = json.loads(json.loads(corpus_path(
        *PRAW, "TestSubredditStreams.test_comments__with_continue_after_id.json").read_text())
        ["interactions"][1]["response"]["body"]["string"])["data"]["children"]
    assert [m.native_id for m in mentions] == [c["data"]["name"] for c in first_page]
    assert all(m.created_at.startswith("2023-10-0") for m in mentions)


def test_submission_with_its_comment_tree():
    mentions, _ = replay(PRAW, "TestSubmission.test_comments", "post:2gmzqe")
    comments = recorded(PRAW, "TestSubmission.test_comments", "t1")
    assert mentions[0].native_id == "t3_2gmzqe" and mentions[0].author == "bboe"
    assert sorted(m.native_id for m in mentions[1:]) == sorted(c["name"] for c in comments)
    assert all(m.parent_id == "reddit:t3_2gmzqe" for m in mentions[1:])


def test_full_replace_more_collects_every_recorded_comment_and_the_deleted_ones():
    name = "TestCommentForest.test_replace__all"
    mentions, collector = replay(PRAW, name, "post:3hahrw", replace_more_limit=None)
    comments = recorded(PRAW, name, "t1")
    got = {m.native_id: m for m in mentions[1:]}
    assert set(got) == {c["name"] for c in comments}
    assert len(got) == len(mentions) - 1  # no comment twice
    gone = {c["name"] for c in comments if c["body"] in GONE}
    assert {i for i, m in got.items() if m.deleted} == gone and gone
    assert all(got[i].author is None for i in gone if got[i].body == "[deleted]")
    assert collector.stats.requests == 20  # token + thread + 18 morechildren


def test_bounded_replace_more_stops_early_and_says_so():
    mentions, collector = replay(PRAW, "TestMore.test_comments", "post:3hahrw",
                                 replace_more_limit=1)
    full = recorded(PRAW, "TestCommentForest.test_replace__all", "t1")
    assert 1 < len(mentions) - 1 < len(full)
    assert "'more comments' not expanded (replace_more limit 1)" in collector.stats.notes[0]


# --- failures, from prawcore's error cassettes (any listing request gets the answer) ---
@pytest.mark.parametrize(("cassette", "status", "words", "rate_limited"), [
    ("TestSession.test_request__service_unavailable", 503, "server error", False),
    ("TestSession.test_request__bad_gateway", 502, "server error", False),
    ("TestSession.test_request__forbidden", 403, "forbidden", False),
    ("TestSession.test_request__not_found", 404, "not found", False),
    ("TestSession.test_request__with_invalid_access_token", 401, "unauthorized", False),
    ("TestSession.test_request__too__many_requests__with_retry_headers", 429, "rate limited",
     True),
    ("TestSession.test_request__bad_json", 200, "malformed JSON", False),
])
def test_recorded_errors_become_reddit_errors(cassette, status, words, rate_limited):
    # Repeats: prawcore answers a 401 by fetching a new token and trying once more.
    with pytest.raises(RedditError) as info:
        replay(PRAWCORE, cassette, "r/larkspur/new", match=("method",), repeats=True,
               limit=100)
    error = info.value
    assert (error.status, error.rate_limited) == (status, rate_limited)
    assert words in str(error) and str(error).startswith("reddit https://oauth.reddit.com/")


def test_recorded_429_on_the_token_endpoint():
    with pytest.raises(RedditError) as info:
        replay(PRAWCORE, "TestSession.test_request__too__many_requests__without_retry_headers",
               "r/larkspur/new", match=("method",), limit=100)
    assert info.value.status == 429 and info.value.rate_limited


def test_recorded_401_then_new_token_then_the_listing():
    posts = recorded(PRAWCORE, "TestSession.test_request__with_invalid_access_token__retry",
                     "t3")
    # limit = the recorded page, so PRAW does not ask for a second page the cassette lacks
    mentions, _ = replay(PRAWCORE, "TestSession.test_request__with_invalid_access_token__retry",
                         "r/larkspur/new", match=("method",), limit=len(posts))
    assert [m.native_id for m in mentions] == [p["name"] for p in posts] and posts


def test_recorded_400_with_an_html_body():
    with pytest.raises(RedditError) as info:
        replay(PRAW, "TestReddit.test_bad_request_without_json_text_html_response",
               "r/larkspur/new", match=("method",), limit=100)
    assert info.value.status == 400
    assert "400 Bad request Your browser sent an invalid request." in str(info.value)
    assert "<h1>" not in str(info.value)


# --- public .json answers (same schema) served at the transport --------------------
@responses.activate
def test_public_search_listing_4_posts():
    body = corpus_path("reddit", "public_json", "search_url_medium_ssh.json").read_text()
    responses.post("https://www.reddit.com/api/v1/access_token",
                   json={"access_token": "t", "token_type": "bearer", "expires_in": 3600,
                         "scope": "*"})
    responses.get("https://oauth.reddit.com/r/all/search/", body=body)
    reddit = make_reddit(client_id="id", client_secret="s", user_agent="earful tests")
    mentions = list(RedditCollector(reddit, limit=100).collect("search:url:medium", {}))
    assert Counter(m.extra["subreddit"] for m in mentions) == Counter(
        {"linux": 1, "sysadmin": 1, "csclub": 1, "hackernews": 1})
    posts = json.loads(body)["data"]["children"]
    assert [m.native_id for m in mentions] == [p["data"]["name"] for p in posts]
    assert [m.extra.get("link") for m in mentions] == [p["data"]["url"] for p in posts]


@responses.activate
def test_public_comment_tree_with_more_objects():
    raw = corpus_path("reddit", "public_json", "comments_2r8es6.json").read_text()
    responses.post("https://www.reddit.com/api/v1/access_token",
                   json={"access_token": "t", "token_type": "bearer", "expires_in": 3600,
                         "scope": "*"})
    responses.get("https://oauth.reddit.com/comments/2r8es6/", body=raw)
    reddit = make_reddit(client_id="id", client_secret="s", user_agent="earful tests")
    collector = RedditCollector(reddit, replace_more_limit=0)
    mentions = list(collector.collect("post:2r8es6", {}))
    post, listing = json.loads(raw)
    stack, expected, mores = [listing], [], 0
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("kind") == "t1":
                expected.append(node["data"]["name"])
            mores += node.get("kind") == "more"
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    assert mentions[0].native_id == post["data"]["children"][0]["data"]["name"]
    assert mentions[0].extra["subreddit"] == "sysadmin"
    assert sorted(m.native_id for m in mentions[1:]) == sorted(expected)
    # The README mentions "more" objects; this file holds none: then nothing is noted.
    assert collector.stats.notes == ([f"2r8es6: {mores} 'more comments' not expanded "
                                      "(replace_more limit 0)"] if mores else [])
