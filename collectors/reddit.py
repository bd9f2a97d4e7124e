"""Reddit posts and comments through PRAW (OAuth, read-only "script" app).

Targets:
  ``search:<query>``   site-wide search, newest first
  ``r/<sub>/new``      a subreddit's new posts
  ``r/<sub>/comments`` a subreddit's newest comments
  ``post:<id>``        one post and its comment tree
Incremental by ``created_utc`` (cursor ``newest_utc``) with an overlap window, because
a listing can show an item a little after it was created. Deleted and removed items are
kept, marked ``deleted=True``.
"""

from __future__ import annotations

import collections
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import praw
import prawcore
import requests

from .base import Collector, CollectorError, Mention, time_field
from .http import DeadlineExceeded, ResponseTooLarge
from .text import html_to_text

log = logging.getLogger(__name__)

SOURCE = "reddit"
GONE = ("[deleted]", "[removed]")
_SUBREDDIT_TARGET = re.compile(r"^r/([A-Za-z0-9_<>]+)/(new|comments)$")


class RedditError(CollectorError):
    """Reddit (or the network on the way) refused or failed a request."""


class RateBudget:
    """At most ``per_minute`` requests in any 60 s window (Reddit allows 100 per client)."""

    def __init__(self, per_minute: int = 100, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.sleep = sleep
        self.clock = clock
        self.count = 0
        self._recent: collections.deque[float] = collections.deque()

    def acquire(self) -> None:
        now = self.clock()
        while self._recent and now - self._recent[0] >= 60:
            self._recent.popleft()
        if len(self._recent) >= self.per_minute:
            self.sleep(60 - (now - self._recent[0]))
            self._recent.popleft()
        self._recent.append(self.clock())
        self.count += 1


class BudgetedSession(requests.Session):
    """The requests.Session PRAW uses: every request waits for the budget and is counted."""

    def __init__(self, budget: RateBudget) -> None:
        super().__init__()
        self.budget = budget

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        self.budget.acquire()
        return super().request(method, url, *args, **kwargs)


def make_reddit(*, client_id: str, client_secret: str, user_agent: str,
                oauth_url: str = "https://oauth.reddit.com",
                reddit_url: str = "https://www.reddit.com",
                budget: RateBudget | None = None,
                session: requests.Session | None = None) -> praw.Reddit:
    """A read-only praw.Reddit whose HTTP goes through a budgeted, counted session.

    ``oauth_url``/``reddit_url`` may point at a local server (tests, offline demo).
    """
    http = session or BudgetedSession(budget or RateBudget())
    return praw.Reddit(client_id=client_id, client_secret=client_secret, user_agent=user_agent,
                       oauth_url=oauth_url, reddit_url=reddit_url,
                       requestor_kwargs={"session": http}, check_for_updates=False,
                       check_for_async=False)


class RedditCollector(Collector):
    """Yields posts and comments from a praw.Reddit given to it.

    ``expand``: a predicate on a post's Mention (e.g. the brand matcher); the comment
    trees of posts it accepts are read too, at most ``max_trees`` per target and with
    ``replace_more(limit=replace_more_limit)`` so a huge thread cannot eat the budget.
    """

    source = SOURCE

    def __init__(self, reddit: praw.Reddit, *, limit: int | None = 1000,
                 overlap_seconds: int = 3600, replace_more_limit: int = 4,
                 expand: Callable[[Mention], bool] | None = None, max_trees: int = 20,
                 budget: RateBudget | None = None, deadline_seconds: float = 0) -> None:
        super().__init__()
        self.reddit = reddit
        self.limit = limit
        self.overlap_seconds = overlap_seconds
        self.replace_more_limit = replace_more_limit
        self.expand = expand
        self.max_trees = max_trees
        self.budget = budget
        self.deadline_seconds = deadline_seconds  # per target; 0: none

    def collect(self, target: str, cursor: dict[str, Any]) -> Iterator[Mention]:
        counted_before = self.budget.count if self.budget else None
        try:
            if target.startswith("post:"):
                submission = self.reddit.submission(id=target.removeprefix("post:").strip())
                yield from self._tree(submission, target, include_post=True)
                return
            listing = self._listing(target)
            since = float(cursor.get("newest_utc") or 0) - self.overlap_seconds
            trees = 0
            started = time.monotonic()
            for thing in listing:
                self._check_deadline(started, target)
                mention = self.read_item(lambda thing=thing: to_mention(thing, target),
                                         vars(thing).get("name"))
                if mention is None:
                    continue
                created = vars(thing)["created_utc"]  # readable: to_mention used it
                if since > 0 and created < since:
                    break  # newest first: the rest was collected last time
                if created > float(cursor.get("newest_utc") or 0):
                    cursor["newest_utc"] = created
                yield mention
                if (self.expand and mention.kind == "post" and trees < self.max_trees
                        and self.expand(mention)):
                    trees += 1
                    yield from self._tree(thing, target, include_post=False)
        except prawcore.exceptions.PrawcoreException as exc:
            raise reddit_error(exc, target) from exc
        except praw.exceptions.PRAWException as exc:
            # e.g. a 400 whose body is HTML: PRAW wraps prawcore's BadRequest, keep its status
            cause = exc.__cause__
            response = getattr(cause, "response", None)
            status = response.status_code if response is not None else None
            url = response.url if response is not None and response.url else target
            what = html_to_text(str(exc)) or type(exc).__name__
            raise RedditError(f"HTTP {status}: {' '.join(what.split())[:160]}" if status else
                              f"PRAW error: {what}", source=SOURCE, url=url,
                              status=status) from exc
        finally:
            self._log_usage(target, counted_before)

    def _listing(self, target: str) -> Iterator[Any]:
        if target.startswith("search:"):
            query = target.removeprefix("search:").strip()
            if not query:
                raise RedditError("empty search query", source=SOURCE, url=target)
            return self.reddit.subreddit("all").search(query, sort="new", time_filter="all",
                                                       limit=self.limit)
        match = _SUBREDDIT_TARGET.match(target.strip())
        if not match:
            raise RedditError("unknown target: expected search:<query>, r/<sub>/new, "
                              "r/<sub>/comments or post:<id>", source=SOURCE, url=target)
        subreddit = self.reddit.subreddit(match.group(1))
        if match.group(2) == "new":
            return subreddit.new(limit=self.limit)
        return subreddit.comments(limit=self.limit)

    def _check_deadline(self, started: float, target: str) -> None:
        if self.deadline_seconds and time.monotonic() - started > self.deadline_seconds:
            raise RedditError(f"source deadline of {self.deadline_seconds:g} s reached: the "
                              "rest waits for the next run", source=SOURCE, url=target)

    def _tree(self, submission: Any, target: str, *, include_post: bool) -> Iterator[Mention]:
        if include_post:
            mention = self.read_item(lambda: to_mention(submission, target),
                                     vars(submission).get("name"))
            if mention is not None:
                yield mention
        skipped = submission.comments.replace_more(limit=self.replace_more_limit)
        if skipped:
            self.stats.notes.append(f"{submission.id}: {len(skipped)} 'more comments' "
                                    f"not expanded (replace_more limit {self.replace_more_limit})")
        for comment in submission.comments.list():
            mention = self.read_item(lambda comment=comment: to_mention(comment, target),
                                     vars(comment).get("name"))
            if mention is not None:
                yield mention

    def _log_usage(self, target: str, counted_before: int | None) -> None:
        if self.budget is not None and counted_before is not None:
            used = self.budget.count - counted_before
            self.stats.requests += used
        else:
            used = None
        limits = self.reddit.auth.limits
        log.info("reddit %s: %s requests this target; Reddit window: used %s, remaining %s",
                 target, used if used is not None else "?", limits.get("used"),
                 limits.get("remaining"))


def to_mention(thing: Any, target: str) -> Mention:
    """A praw Submission or Comment -> Mention (no extra request: listing data only).

    Optional fields are read from ``vars()``: getattr on a field the listing lacks makes
    PRAW fetch the whole item, one request per post.
    """
    data = vars(thing)
    author = thing.author.name if thing.author is not None else None
    if author in GONE:
        author = None
    subreddit = thing.subreddit.display_name if thing.subreddit is not None else None
    extra: dict[str, Any] = {"subreddit": subreddit, "score": data.get("score")}
    permalink = data.get("permalink")
    url = f"https://www.reddit.com{permalink}" if permalink else None
    if isinstance(thing, praw.models.Submission):
        body = thing.selftext or None
        deleted = body in GONE or data.get("removed_by_category") is not None
        if data.get("is_self") is False:
            extra["link"] = thing.url
        extra["num_comments"] = data.get("num_comments")
        return Mention(source=SOURCE, native_id=thing.fullname, kind="post", target=target,
                       created_at=time_field(data.get("created_utc"), "created_utc"), url=url,
                       author=author, title=thing.title, body=body, deleted=deleted, extra=extra)
    body = thing.body
    if url is None and data.get("link_id"):  # comment listings carry no permalink
        url = f"https://www.reddit.com/comments/{thing.link_id[3:]}/_/{thing.id}"
    return Mention(source=SOURCE, native_id=thing.fullname, kind="comment", target=target,
                   created_at=time_field(data.get("created_utc"), "created_utc"), url=url,
                   author=author, body=body,
                   deleted=body in GONE, parent_id=f"{SOURCE}:{thing.link_id}", extra=extra)


def reddit_error(exc: prawcore.exceptions.PrawcoreException, target: str) -> RedditError:
    """prawcore's exception -> RedditError with the HTTP status and what went wrong."""
    response = getattr(exc, "response", None)
    status = response.status_code if response is not None else None
    url = response.url if response is not None and response.url else target
    if status == 429:  # TooManyRequests, or a plain ResponseException from the token endpoint
        retry_after = response.headers.get("retry-after") if response is not None else None
        wait = f", Retry-After {retry_after} s" if retry_after else ""
        return RedditError(f"HTTP 429 rate limited{wait}", source=SOURCE, url=url, status=429,
                           rate_limited=True)
    if isinstance(exc, prawcore.exceptions.BadJSON):
        return RedditError(f"malformed JSON in a {status} response", source=SOURCE, url=url,
                           status=status)
    if isinstance(exc, prawcore.exceptions.ServerError):
        return RedditError(f"HTTP {status} server error (after prawcore's retries)",
                           source=SOURCE, url=url, status=status)
    if isinstance(exc, prawcore.exceptions.ResponseException):
        what = {401: "unauthorized (check the client id and secret)",
                403: "forbidden (private, quarantined or banned?)",
                404: "not found"}.get(status or 0, type(exc).__name__)
        return RedditError(f"HTTP {status} {what}", source=SOURCE, url=url, status=status)
    if isinstance(exc, prawcore.exceptions.OAuthException):
        return RedditError(f"OAuth failed: {exc.error} {exc.description or ''}".strip(),
                           source=SOURCE, url=url, status=status)
    if isinstance(exc, prawcore.exceptions.RequestException):
        original = exc.original_exception
        hint = {ResponseTooLarge: "response too large: ", DeadlineExceeded: "too slow: "}.get(
            type(original), "request failed: ")
        return RedditError(f"{hint}{original}", source=SOURCE, url=url)
    return RedditError(f"{type(exc).__name__}: {exc}", source=SOURCE, url=url, status=status)
