"""A polite HTTP fetcher shared by the web collectors.

Honest User-Agent, timeouts on every request, retries with exponential backoff that
honour Retry-After (capped, so a cron run never hangs), robots.txt, a minimum delay per
host and conditional GET. Everything it does is counted in the caller's CollectStats.
``post`` does the same for read-only endpoints that take their query as a form body.

Bounded, whatever the server does: a response body is read at most ``max_bytes`` decoded
(counted while streaming, so a gzip bomb is cut off after the first megabytes), every
request has a total deadline (a server trickling one byte a second is cut off, which a
per-read timeout never does) and every (source, target) one too, and redirects are
followed only to the host that was asked (or ``redirect_hosts``), robots.txt checked for
each hop. ``bound_session`` gives any requests.Session (PRAW's) the same size and time caps.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from protego import Protego
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .base import CollectorError, CollectStats

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_CONTACT = "https://github.com/earful/earful"
ROBOTS_TOKEN = "earful"


MB = 1_000_000
DEFAULT_MAX_BYTES = 10 * MB
DEFAULT_REQUEST_DEADLINE = 60.0
DEFAULT_SOURCE_DEADLINE = 300.0
CHUNK = 64 * 1024


class FetchError(CollectorError):
    """An HTTP request failed for good (after retries, or a status not worth retrying)."""


# Neither is a Timeout or ConnectionError: they are not retried, by us or by prawcore.
class ResponseTooLarge(requests.RequestException):
    """The decoded body grew past the cap; reading stopped there."""


class DeadlineExceeded(requests.RequestException):
    """No complete answer within the request's total deadline; the connection was cut."""


# --- the bounded transport ----------------------------------------------------------
_local = threading.local()  # .guard: the running request's deadline; .deadline: override


class _Guard:
    """A request's deadline: when it passes, the sockets the request uses are shut down,
    which wakes a read blocked on a trickling server (a per-read timeout never fires)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._connections: list[HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def attach(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connections.append(connection)
            if self.fired:
                _cut(connection)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for connection in self._connections:
                _cut(connection)

    def __enter__(self) -> _Guard:
        self._previous = getattr(_local, "guard", None)
        _local.guard = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _local.guard = self._previous
        if self.fired:
            for connection in self._connections:
                connection.close()  # shut down: never back into the pool


def _cut(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:  # the plain socket's shutdown, also under TLS: it only has to wake the reader
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


class _Watched:
    """Mixin for urllib3 connections: each request puts the connection under the running
    request's deadline (a kept-alive connection too)."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        guard = getattr(_local, "guard", None)
        if guard is not None:
            guard.attach(self)  # type: ignore[arg-type]
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class BoundedAdapter(HTTPAdapter):
    """requests' adapter with a cap on the decoded body and a total deadline per request.

    The body is read here, inside the deadline (requests would read it afterwards), in
    chunks of 64 KiB decoded, so a compressed body is never inflated past the cap.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES,
                 deadline_seconds: float = DEFAULT_REQUEST_DEADLINE, **kwargs: Any) -> None:
        self.max_bytes = max_bytes
        self.deadline_seconds = deadline_seconds
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             **kwargs: Any) -> requests.Response:
        seconds = self.deadline_seconds or math.inf
        override = getattr(_local, "deadline", None)
        if override is not None:
            seconds = min(seconds, override)
        if math.isinf(seconds):
            response = super().send(request, stream=True, **kwargs)
            return response if stream else read_capped(response, self.max_bytes)
        with _Guard(seconds) as guard:
            try:
                response = super().send(request, stream=True, **kwargs)
                return response if stream else read_capped(response, self.max_bytes)
            except Exception as exc:
                if guard.fired:
                    raise DeadlineExceeded(f"no complete answer within {seconds:g} s",
                                           request=request) from exc
                raise


def read_capped(response: requests.Response, max_bytes: int) -> requests.Response:
    """Read the body into ``response.content``; ResponseTooLarge past ``max_bytes``."""
    if not max_bytes:
        response.content  # noqa: B018 - reads it
        return response
    declared = response.headers.get("Content-Length", "")
    if (declared.isdigit() and int(declared) > max_bytes
            and not response.headers.get("Content-Encoding")):
        response.close()
        raise ResponseTooLarge(f"Content-Length {int(declared):,} bytes is more than the "
                               f"cap of {max_bytes:,}", response=response)
    body = bytearray()
    for chunk in response.iter_content(CHUNK):
        body += chunk
        if len(body) > max_bytes:
            response.close()
            raise ResponseTooLarge(f"more than {max_bytes:,} bytes (decoded): reading stopped",
                                   response=response)
    response._content = bytes(body)
    response._content_consumed = True
    return response


def bound_session(session: requests.Session, *, max_bytes: int = DEFAULT_MAX_BYTES,
                  deadline_seconds: float = DEFAULT_REQUEST_DEADLINE) -> requests.Session:
    """Mount the bounded adapter on ``session`` for http and https; returns it."""
    adapter = BoundedAdapter(max_bytes, deadline_seconds)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def loads(text: str | bytes) -> Any:
    """json.loads, but an integer too long for Python's int conversion (4,300 digits)
    reads as infinity, a value the item checks reject, instead of failing the page."""
    return json.loads(text, parse_int=_parse_int)


def _parse_int(digits: str) -> int | float:
    return int(digits) if len(digits) < 4000 else (-math.inf if digits[0] == "-" else math.inf)


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
        max_bytes: int = DEFAULT_MAX_BYTES,
        request_deadline_seconds: float = DEFAULT_REQUEST_DEADLINE,
        source_deadline_seconds: float = DEFAULT_SOURCE_DEADLINE,
        redirect_hosts: Iterable[str] = (),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = bound_session(session, max_bytes=max_bytes,
                                     deadline_seconds=request_deadline_seconds)
        self.max_bytes = max_bytes
        self.request_deadline = request_deadline_seconds
        self.source_deadline = source_deadline_seconds
        self.redirect_hosts = {h.strip().lower() for h in redirect_hosts}
        self.user_agent = user_agent(version or default_version(), contact)
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_retry_after = max_retry_after_seconds
        self.min_delay = min_delay_seconds
        self.respect_robots = respect_robots
        self.sleep = sleep
        self.clock = clock
        self.max_redirects = max_redirects
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
            remaining = self._remaining(stats, source, full_url, error)
            stats.requests += 1
            try:
                response = self._follow(method, url, params=params, data=data, headers=sent,
                                        stats=stats, source=source, error=error,
                                        robots=robots, deadline=remaining)
            except requests.TooManyRedirects as exc:
                stats.http_errors["redirects"] += 1
                raise error(f"redirect loop (more than {self.max_redirects} redirects)",
                            source=source, url=full_url) from exc
            except ResponseTooLarge as exc:
                stats.http_errors["too_large"] += 1
                raise error(f"response too large: {exc} (http.max_response_mb is "
                            f"{self.max_bytes / MB:g})", source=source, url=full_url) from exc
            except DeadlineExceeded as exc:
                stats.http_errors["deadline"] += 1
                if remaining < self.request_deadline:
                    raise error(f"source deadline reached: {exc} (http.source_deadline_seconds "
                                f"is {self.source_deadline:g}); the rest waits for the next run",
                                source=source, url=full_url) from exc
                raise error(f"too slow: {exc} (http.request_deadline_seconds is "
                            f"{self.request_deadline:g}); not retried", source=source,
                            url=full_url) from exc
            except requests.Timeout:
                stats.http_errors["timeout"] += 1
                problem, status = "timed out", None
            except requests.ConnectionError as exc:
                stats.http_errors["connection"] += 1
                problem, status = f"connection failed ({_short_reason(exc)})", None
            except requests.RequestException as exc:
                raise error(f"request failed: {exc}", source=source, url=full_url) from exc
            else:
                if response is None:
                    return None  # a redirect to a page robots.txt disallows
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
                    self._pause(wait if wait is not None else self._backoff(attempt), stats,
                                source, full_url, error)
                continue
            if attempt + 1 < tries:
                self._pause(self._backoff(attempt), stats, source, full_url, error)
        raise error(f"{problem} after {tries} tries", source=source, url=full_url,
                    status=status, rate_limited=status == 429)

    def _follow(self, method: str, url: str, *, params: dict[str, Any] | None,
                data: dict[str, str] | str | bytes | None, headers: dict[str, str],
                stats: CollectStats, source: str, error: type[CollectorError], robots: bool,
                deadline: float) -> requests.Response | None:
        """One attempt, following redirects ourselves: only to the host asked (or one in
        ``redirect_hosts``), robots.txt checked for each hop; None when it disallows one."""
        origin = requests.Request("GET", url, params=params).prepare().url or url
        _local.deadline = deadline
        try:
            for _ in range(self.max_redirects + 1):
                response = self.session.request(method, url, params=params, data=data,
                                                headers=headers, timeout=self.timeout,
                                                allow_redirects=False)
                if not response.is_redirect:
                    return response
                here = response.url or url
                target = urljoin(here, response.headers["Location"])
                if not self._redirect_allowed(origin, target):
                    stats.http_errors["redirect_elsewhere"] += 1
                    raise error(f"redirected from {here} to {target}: another host, not "
                                f"followed (add {_host_port(target)!r} to http.redirect_hosts "
                                "if it is yours)", source=source, url=origin,
                                status=response.status_code)
                if robots and self.respect_robots and not self._allowed(target, stats, source):
                    stats.skipped_robots += 1
                    log.warning("%s: %s redirects to %s, which robots.txt disallows for %s: "
                                "skipped", source, here, target, ROBOTS_TOKEN)
                    return None
                if response.status_code == 303 or (response.status_code in (301, 302)
                                                   and method == "POST"):
                    method, data = "GET", None
                url, params = target, None
                self._wait_for_host(url)
                stats.requests += 1
                deadline = self._remaining(stats, source, origin, error)
                _local.deadline = deadline
            raise requests.TooManyRedirects(f"more than {self.max_redirects} redirects")
        finally:
            _local.deadline = None

    def _redirect_allowed(self, origin: str, target: str) -> bool:
        was, now = urlsplit(origin), urlsplit(target)
        if now.scheme not in ("http", "https") or not now.hostname:
            return False
        if _host_port(origin) == _host_port(target):
            return True
        if (was.hostname == now.hostname and was.scheme == "http" and now.scheme == "https"
                and was.port in (None, 80) and now.port in (None, 443)):
            return True  # the same site moving to https
        return now.hostname.lower() in self.redirect_hosts or \
            _host_port(target) in self.redirect_hosts

    def _remaining(self, stats: CollectStats, source: str, url: str,
                   error: type[CollectorError]) -> float:
        """Seconds left of the source's deadline (started by its first request)."""
        if not self.source_deadline:
            return math.inf
        if stats.started is None:
            stats.started = self.clock()
        left = self.source_deadline - (self.clock() - stats.started)
        if left <= 0:
            raise error(f"source deadline of {self.source_deadline:g} s reached after "
                        f"{stats.requests} requests (http.source_deadline_seconds); the rest "
                        "waits for the next run", source=source, url=url)
        return left

    def _pause(self, seconds: float, stats: CollectStats, source: str, url: str,
               error: type[CollectorError]) -> None:
        if seconds >= self._remaining(stats, source, url, error):
            raise error(f"waiting {seconds:g} s more would pass the source deadline of "
                        f"{self.source_deadline:g} s (http.source_deadline_seconds); the rest "
                        "waits for the next run", source=source, url=url)
        self.sleep(seconds)

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
        return loads(content)
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


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{(parts.hostname or '').lower()}:{port}"


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    return text[:120]


def as_fetcher(http: Fetcher | requests.Session) -> Fetcher:
    """Collectors accept a ready Fetcher (shared per run) or a bare Session (defaults)."""
    return http if isinstance(http, Fetcher) else Fetcher(http)
