"""Build collectors from config: the one place that knows both config and collectors.

One ``Sources`` per run: every HTTP source shares one polite ``Fetcher`` (so per-host
delays and the robots.txt cache hold across sources) and every Reddit source one
``praw.Reddit`` with one request budget (Reddit's limit is per OAuth client).
"""

from __future__ import annotations

from collections.abc import Iterator

import requests

from analysis.matching import Matcher
from collectors.appstore import AppStoreCollector
from collectors.base import Collector, CollectorError
from collectors.css import CssCollector, Selectors
from collectors.feeds import FeedCollector
from collectors.googleplay import GooglePlayCollector
from collectors.hackernews import HackerNewsCollector
from collectors.http import MB, Fetcher, bound_session, default_version
from collectors.reddit import BudgetedSession, RateBudget, RedditCollector, make_reddit
from collectors.schemaorg import SchemaOrgCollector
from collectors.trustpilot import TrustpilotCollector

from .config import Brand, Config, Source


class Sources:
    """``sources(config, brand, source)`` yields (collector, target) pairs for one source."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._fetcher: Fetcher | None = None
        self._reddit = None
        self.reddit_budget = RateBudget(per_minute=100)

    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            http = self.config.http
            self._fetcher = Fetcher(
                requests.Session(), contact=self.config.earful["contact"],
                connect_timeout=http["connect_timeout"], read_timeout=http["read_timeout"],
                max_retries=http["max_retries"],
                max_retry_after_seconds=http["max_retry_after_seconds"],
                min_delay_seconds=http["min_delay_seconds"],
                respect_robots=http["respect_robots"], **self._limits(),
                source_deadline_seconds=http["source_deadline_seconds"],
                redirect_hosts=http["redirect_hosts"])
        return self._fetcher

    def _limits(self) -> dict[str, float]:
        http = self.config.http
        return {"max_bytes": int(http["max_response_mb"] * MB),
                "request_deadline_seconds": http["request_deadline_seconds"]}

    def _reddit_session(self) -> BudgetedSession:
        # PRAW's own transport gets the same size and time caps as the polite fetcher.
        limits = self._limits()
        return bound_session(BudgetedSession(self.reddit_budget), max_bytes=limits["max_bytes"],
                             deadline_seconds=limits["request_deadline_seconds"])

    def reddit(self):  # -> praw.Reddit
        if self._reddit is None:
            settings, secrets = self.config.reddit, self.config.secrets
            by = (f"u/{settings['username'].removeprefix('u/')}" if settings["username"]
                  else self.config.earful["contact"])
            # Reddit's required form: <platform>:<app id>:<version> (by u/<username>)
            agent = f"python:earful:{default_version()} (by {by})"
            if settings["praw_site"]:
                import praw

                self._reddit = praw.Reddit(
                    settings["praw_site"], user_agent=agent, check_for_updates=False,
                    check_for_async=False,
                    requestor_kwargs={"session": self._reddit_session()})
            else:
                self._reddit = make_reddit(
                    client_id=secrets.reddit_client_id or "",
                    client_secret=secrets.reddit_client_secret or "", user_agent=agent,
                    oauth_url=settings["oauth_url"], reddit_url=settings["reddit_url"],
                    budget=self.reddit_budget, session=self._reddit_session())
        return self._reddit

    def __call__(self, config: Config, brand: Brand,
                 source: Source) -> Iterator[tuple[Collector, str]]:
        opts, pages = source.options, config.http["max_pages"]
        kind = source.type
        if kind == "feed":
            yield FeedCollector(self.fetcher()), opts["url"]
        elif kind == "hackernews":
            collector = HackerNewsCollector(self.fetcher(), base_url=opts["base_url"],
                                            max_pages=pages)
            for query in [opts["query"]] if opts["query"] else brand.keywords:
                yield collector, query
        elif kind == "reddit":
            matcher = Matcher(brand.keywords, exclude=brand.exclude,
                              exclude_authors=brand.exclude_authors,
                              exclude_subreddits=brand.exclude_subreddits)
            collector = RedditCollector(
                self.reddit(), replace_more_limit=config.reddit["replace_more_limit"],
                expand=matcher.matches if opts["comments"] else None,
                budget=self.reddit_budget,
                deadline_seconds=config.http["source_deadline_seconds"])
            if opts["search"]:
                yield collector, "search:" + " OR ".join(brand.keywords)
            for sub in opts["subreddits"]:
                name = sub.removeprefix("r/").strip("/")
                yield collector, f"r/{name}/new"
                yield collector, f"r/{name}/comments"
        elif kind == "schemaorg":
            yield SchemaOrgCollector(self.fetcher()), opts["url"]
        elif kind == "trustpilot":
            yield TrustpilotCollector(self.fetcher(), max_pages=pages), opts["url"]
        elif kind == "appstore":
            collector = AppStoreCollector(self.fetcher(), base_url=opts["base_url"],
                                          max_pages=pages)
            for country in opts["countries"]:
                yield collector, f"{country.lower()}:{opts['app_id']}"
        elif kind == "googleplay":
            collector = GooglePlayCollector(self.fetcher(), base_url=opts["base_url"],
                                            max_pages=pages)
            for lang in opts["lang"]:
                for country in opts["countries"]:
                    yield collector, f"{lang}-{country.lower()}:{opts['app_id']}"
        elif kind == "css":
            selectors = Selectors(**{k: opts[k] for k in ("review", "text", "rating", "date",
                                                          "author", "title", "next")})
            yield CssCollector(self.fetcher(), selectors, max_pages=pages), opts["url"]
        else:  # config.py validates types; this only guards against drift between the two
            raise CollectorError(f"no collector for source type {kind!r}", source=kind)
