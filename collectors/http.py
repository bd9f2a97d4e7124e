"""A polite HTTP fetcher shared by the web collectors.

Honest User-Agent, timeouts on every request, retries with exponential backoff that
honour Retry-After (capped, so a cron run never hangs), robots.txt, a minimum delay per
host and conditional GET. Everything it does is counted in the caller's CollectStats.
``post`` does the same for read-only endpoints that take their query as a form body.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import requests
from protego import Protego

from .base import CollectorError, CollectStats

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_CONTACT = "https://github.com/earful/earful"
ROBOTS_TOKEN = "earful"


class FetchError(CollectorError):
    """An HTTP request failed for good (after retries, or a status not worth retrying)."""


def default_version() -> str:
    try:
        return metadata.version("earful")
    except metadata.PackageNotFoundError:
        return "0"


def user_agent(version: str, contact: str) -> str:
    """``earful/<version> (+<contact url>)``: sites can see who we are and reach us."""
    return f"earful/{version} (+{contact})"


class Fetcher:
    """Wraps a ``requests.Session``; every collector request goes through ``get``."""

    def __init__(
        self,
        session: requests.Session,
        *,
        version: str | None = None,
        contact: str = DEFAULT_CONTACT,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_retries: int = 3,
        backoff_seconds: float = 1.0,
        max_retry_after_seconds: float = 60.0,
        min_delay_seconds: float = 1.0,
        respect_robots: bool = True,
        max_redirects: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.user_agent = user_agent(version or default_version(), contact)
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_retry_after = max_retry_after_seconds
        self.min_delay = min_delay_seconds
        self.respect_robots = respect_robots
        self.sleep = sleep
        self.clock = clock
        session.max_redirects = max_redirects
        self._last_request: dict[str, float] = {}  # host -> clock() of the last request
        self._robots: dict[str, Protego | None] = {}  # host -> parsed robots.txt (None: allow)

    # --- public -------------------------------------------------------------------
    def get(
        self,
        url: str,
        *,
        stats: CollectStats,
        source: str,
        error: type[CollectorError] = FetchError,
        params: dict[str, Any] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: dict[str, str] | None = None,
        robots: bool = True,
    ) -> requests.Response | None:
        """GET ``url``; None when robots.txt disallows it. A 304 is returned, not raised.

        ``robots=False`` is for APIs and feeds a user subscribed to: robots.txt governs
        crawlers, and those endpoints exist to be fetched by programs.
        """
        return self._send("GET", url, stats=stats, source=source, error=error, params=params,
                          etag=etag, last_modified=last_modified, headers=headers,
                          robots=robots)

    def post(
        self,
        url: str,
        *,
        stats: CollectStats,
        source: str,
        data: dict[str, str] | str | bytes,
        error: type[CollectorError] = FetchError,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        robots: bool = True,
    ) -> requests.Response | None:
        """POST a form body (a dict is form-encoded) with the same manners as ``get``.

        For read-only query endpoints that take their question in the body; retried on
        the same statuses as GET, so never use it for anything that changes state.
        """
        return self._send("POST", url, stats=stats, source=source, error=error,
                          params=params, data=data, headers=headers, robots=robots)

    def _send(
        self,
        method: str,
        url: str,
        *,
        stats: CollectStats,
        source: str,
        error: type[CollectorError],
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
        robots: bool,
        data: dict[str, str] | str | bytes | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> requests.Response | None:
        full_url = requests.Request("GET", url, params=params).prepare().url or url
        if robots and self.respect_robots and not self._allowed(full_url, stats, source):
            stats.skipped_robots += 1
            log.warning("%s: robots.txt disallows %s for %s: skipped", source, full_url,
                        ROBOTS_TOKEN)
            return None
        sent = {"User-Agent": self.user_agent, **(headers or {})}
        if etag:
            sent["If-None-Match"] = etag
        if last_modified:
            sent["If-Modified-Since"] = last_modified
        tries = self.max_retries + 1
        problem = ""
        status: int | None = None
        for attempt in range(tries):
            self._wait_for_host(full_url)
            stats.requests += 1
            try:
                response = self.session.request(method, url, params=params, data=data,
                                                headers=sent, timeout=self.timeout)
            except requests.TooManyRedirects as exc:
                stats.http_errors["redirects"] += 1
                raise error(f"redirect loop (more than {self.session.max_redirects} redirects)",
                            source=source, url=full_url) from exc
            except requests.Timeout:
                stats.http_errors["timeout"] += 1
                problem, status = "timed out", None
            except requests.ConnectionError as exc:
                stats.http_errors["connection"] += 1
                problem, status = f"connection failed ({_short_reason(exc)})", None
            except requests.RequestException as exc:
                raise error(f"request failed: {exc}", source=source, url=full_url) from exc
            else:
                status = response.status_code
                if status < 400:
                    return response
                stats.http_errors[status] += 1
                if status not in RETRY_STATUSES:
                    raise error(f"HTTP {status}{_body_hint(response)}", source=source,
                                url=full_url, status=status)
                problem = f"HTTP {status}"
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if wait is not None and wait > self.max_retry_after:
                    raise error(f"HTTP {status} with Retry-After {wait:.0f} s (longer than "
                                f"{self.max_retry_after:.0f} s): giving up until the next run",
                                source=source, url=full_url, status=status, rate_limited=True)
                if attempt + 1 < tries:
                    self.sleep(wait if wait is not None else self._backoff(attempt))
                continue
            if attempt + 1 < tries:
                self.sleep(self._backoff(attempt))
        raise error(f"{problem} after {tries} tries", source=source, url=full_url,
                    status=status, rate_limited=status == 429)

    def get_json(self, url: str, **kwargs: Any) -> tuple[requests.Response | None, Any]:
        """``get`` then decode JSON; malformed JSON is an error that says where it broke."""
        response = self.get(url, **kwargs)
        if response is None or response.status_code == 304:
            return response, None
        error = kwargs.get("error", FetchError)
        return response, decode_json(response.content, source=kwargs["source"],
                                     url=response.url or url, error=error)

    # --- politeness -----------------------------------------------------------------
    def _wait_for_host(self, url: str) -> None:
        host = urlsplit(url).netloc
        last = self._last_request.get(host)
        if last is not None:
            remaining = self.min_delay - (self.clock() - last)
            if remaining > 0:
                self.sleep(remaining)
        self._last_request[host] = self.clock()

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_seconds * 2**attempt, self.max_retry_after)

    def _allowed(self, url: str, stats: CollectStats, source: str) -> bool:
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}"
        if host not in self._robots:
            self._robots[host] = self._load_robots(host, stats, source)
        rules = self._robots[host]
        return rules is None or rules.can_fetch(url, ROBOTS_TOKEN)

    def _load_robots(self, host: str, stats: CollectStats, source: str) -> Protego | None:
        robots_url = f"{host}/robots.txt"
        self._wait_for_host(robots_url)
        stats.requests += 1
        try:
            response = self.session.get(robots_url, headers={"User-Agent": self.user_agent},
                                        timeout=self.timeout)
        except requests.RequestException as exc:
            # The page request that follows will report the real network problem.
            log.info("%s: no robots.txt from %s (%s): allowing", source, host, _short_reason(exc))
            return None
        if response.status_code >= 400:
            return None  # 4xx: no robots.txt, everything allowed; 5xx: the page will tell
        return Protego.parse(response.text)


def decode_json(content: bytes | str, *, source: str, url: str | None,
                error: type[CollectorError] = FetchError) -> Any:
    try:
        return json.loads(content)
    except json.JSONDecodeError as exc:
        raise error(f"malformed JSON at line {exc.lineno} col {exc.colno}: {exc.msg}",
                    source=source, url=url) from exc
    except UnicodeDecodeError as exc:
        raise error(f"response is not UTF-8 text: {exc.reason}", source=source, url=url) from exc


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _body_hint(response: requests.Response) -> str:
    """A short, tag-free excerpt of an error body: enough to tell what the server said."""
    from .text import html_to_text

    text = response.text[:2000] if response.content else ""
    if "<" in text:
        text = html_to_text(text) or ""
    text = " ".join(text.split())[:120]
    reason = f" {response.reason}" if response.reason else ""
    return f"{reason}: {text}" if text else reason


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    return text[:120]


def as_fetcher(http: Fetcher | requests.Session) -> Fetcher:
    """Collectors accept a ready Fetcher (shared per run) or a bare Session (defaults)."""
    return http if isinstance(http, Fetcher) else Fetcher(http)
