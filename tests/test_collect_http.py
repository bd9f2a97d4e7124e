"""The polite fetcher: retries, Retry-After, robots.txt, per-host delay, conditional GET."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
import requests
import responses

from collectors.base import CollectorError, CollectStats
from collectors.http import Fetcher, retry_after_seconds

URL = "https://reviews.example/acme"


class FakeClock:
    """Time that only moves when the fetcher sleeps: no real waiting, no timing flakiness."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def fetcher(clock: FakeClock | None = None, **kwargs) -> Fetcher:
    clock = clock or FakeClock()
    options = {"version": "1.2", "contact": "https://acme.example/bot", "min_delay_seconds": 0,
               "respect_robots": False, "sleep": clock.sleep, "clock": clock, **kwargs}
    return Fetcher(requests.Session(), **options)


def get(f: Fetcher, url: str = URL, stats: CollectStats | None = None, **kwargs):
    return f.get(url, stats=stats or CollectStats(), source="test", **kwargs)


def raised(f: Fetcher, url: str = URL, stats: CollectStats | None = None, **kwargs):
    try:
        get(f, url, stats, **kwargs)
    except CollectorError as exc:
        return exc
    raise AssertionError("no CollectorError raised")


@responses.activate
def test_user_agent_and_timeouts_on_every_request():
    responses.get(URL, body="ok")
    f = fetcher(connect_timeout=3, read_timeout=7)
    get(f)
    request = responses.calls[0].request
    assert request.headers["User-Agent"] == "earful/1.2 (+https://acme.example/bot)"
    assert request.req_kwargs["timeout"] == (3, 7)


@responses.activate
def test_503_is_retried_with_exponential_backoff_then_named_in_the_error():
    responses.get(URL, status=503)
    clock = FakeClock()
    stats = CollectStats()
    exc = raised(fetcher(clock, max_retries=3, backoff_seconds=2), stats=stats)
    assert "HTTP 503 after 4 tries" in str(exc)
    assert exc.source == "test" and exc.url == URL and exc.status == 503
    assert not exc.rate_limited
    assert clock.sleeps == [2, 4, 8]
    assert stats.requests == 4 and stats.http_errors[503] == 4


@responses.activate
def test_retry_after_is_honoured_then_success():
    responses.get(URL, status=429, headers={"Retry-After": "7"})
    responses.get(URL, body="fine")
    clock = FakeClock()
    stats = CollectStats()
    response = get(fetcher(clock), stats=stats)
    assert response.text == "fine"
    assert clock.sleeps == [7.0]
    assert stats.requests == 2 and stats.http_errors == {429: 1}


@responses.activate
def test_429_without_retry_after_backs_off_and_ends_rate_limited():
    responses.get(URL, status=429)
    clock = FakeClock()
    exc = raised(fetcher(clock, max_retries=2, backoff_seconds=1))
    assert exc.rate_limited and exc.status == 429
    assert "HTTP 429 after 3 tries" in str(exc)
    assert clock.sleeps == [1, 2]


@responses.activate
def test_a_day_long_retry_after_gives_up_at_once_so_cron_never_hangs():
    responses.get(URL, status=429, headers={"Retry-After": "86400"})
    clock = FakeClock()
    exc = raised(fetcher(clock, max_retry_after_seconds=60))
    assert exc.rate_limited
    assert "Retry-After 86400" in str(exc)
    assert clock.sleeps == []
    assert len(responses.calls) == 1


@responses.activate
def test_404_and_401_and_403_are_not_retried():
    for status in (401, 403, 404):
        responses.get(f"{URL}/{status}", status=status, body='{"error": "nope"}')
        exc = raised(fetcher(), f"{URL}/{status}")
        assert exc.status == status and f"HTTP {status}" in str(exc)
    assert len(responses.calls) == 3


@responses.activate
def test_a_400_with_an_html_body_is_reported_without_markup():
    responses.get(URL, status=400, content_type="text/html",
                  body="<html><body><h1>Bad request</h1><p>missing &amp; wrong</p></body></html>")
    exc = raised(fetcher())
    assert "HTTP 400" in str(exc) and "Bad request" in str(exc) and "missing & wrong" in str(exc)
    assert "<h1>" not in str(exc)


@responses.activate
def test_500_502_504_are_retried():
    for status in (500, 502, 504):
        responses.get(f"{URL}/{status}", status=status)
        exc = raised(fetcher(max_retries=1), f"{URL}/{status}")
        assert f"HTTP {status} after 2 tries" in str(exc)
    assert len(responses.calls) == 6


@responses.activate
def test_timeouts_are_retried_and_counted():
    responses.get(URL, body=requests.ReadTimeout("read timed out"))
    stats = CollectStats()
    exc = raised(fetcher(max_retries=2), stats=stats)
    assert "timed out after 3 tries" in str(exc)
    assert stats.http_errors["timeout"] == 3


def test_connection_refused_names_the_url():
    # Port 9 on localhost: nothing listens there, the OS refuses at once.
    url = "http://127.0.0.1:9/feed"
    exc = raised(fetcher(max_retries=1), url)
    assert "connection failed (connection refused) after 2 tries" in str(exc)
    assert exc.url == url


@responses.activate
def test_a_redirect_loop_is_an_error_not_a_hang():
    responses.get(URL, status=302, headers={"Location": URL + "/b"})
    responses.get(URL + "/b", status=302, headers={"Location": URL})
    exc = raised(fetcher(max_redirects=4))
    assert "redirect loop" in str(exc)
    assert len(responses.calls) == 5


@responses.activate
def test_conditional_get_sends_validators_and_returns_304():
    responses.get(URL, status=304)
    response = get(fetcher(), etag='"v1"', last_modified="Wed, 01 Jan 2025 00:00:00 GMT")
    assert response.status_code == 304
    sent = responses.calls[0].request.headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Wed, 01 Jan 2025 00:00:00 GMT"


@responses.activate
def test_robots_txt_disallowed_url_is_skipped_and_counted_and_cached(caplog):
    responses.get("https://reviews.example/robots.txt",
                  body="User-agent: *\nDisallow: /private\n")
    responses.get("https://reviews.example/public", body="hello")
    f = fetcher(respect_robots=True)
    stats = CollectStats()
    assert get(f, "https://reviews.example/private/page", stats) is None
    assert get(f, "https://reviews.example/public", stats).text == "hello"
    assert stats.skipped_robots == 1
    assert [c.request.url for c in responses.calls] == [
        "https://reviews.example/robots.txt", "https://reviews.example/public"]
    assert "robots.txt disallows https://reviews.example/private/page" in caplog.text


@responses.activate
def test_robots_txt_missing_means_allowed():
    responses.get("https://reviews.example/robots.txt", status=404)
    responses.get(URL, body="ok")
    assert get(fetcher(respect_robots=True), URL).text == "ok"


@responses.activate
def test_min_delay_per_host_but_not_across_hosts():
    responses.get("https://a.example/1", body="")
    responses.get("https://a.example/2", body="")
    responses.get("https://b.example/1", body="")
    clock = FakeClock()
    f = fetcher(clock, min_delay_seconds=2.5)
    get(f, "https://a.example/1")
    get(f, "https://b.example/1")
    get(f, "https://a.example/2")
    assert clock.sleeps == [2.5]


@responses.activate
def test_malformed_json_error_says_where():
    responses.get(URL, body='{"hits": [1, 2,')
    try:
        fetcher().get_json(URL, stats=CollectStats(), source="test")
    except CollectorError as exc:
        assert "malformed JSON at line 1 col 16" in str(exc) and URL in str(exc)
    else:
        raise AssertionError("no error")


def test_retry_after_parsing():
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


# --- bounded: redirects, size, deadlines --------------------------------------------------
@responses.activate
def test_a_redirect_on_the_same_host_is_followed_and_an_https_upgrade_too():
    responses.get("http://reviews.example/old", status=301,
                  headers={"Location": "https://reviews.example/new"})
    responses.get("https://reviews.example/new", status=302, headers={"Location": "/newer"})
    responses.get("https://reviews.example/newer", body="here")
    stats = CollectStats()
    assert get(fetcher(), "http://reviews.example/old", stats).text == "here"
    assert stats.requests == 3


@responses.activate
def test_a_redirect_to_another_host_or_port_is_an_error_naming_both_urls():
    for elsewhere in ("https://evil.example/feed", "https://reviews.example:8443/feed"):
        responses.get(URL, status=302, headers={"Location": elsewhere})
        exc = raised(fetcher())
        assert f"redirected from {URL} to {elsewhere}: another host, not followed" in str(exc)
        responses.reset()


@responses.activate
def test_redirect_hosts_lets_a_redirect_through():
    responses.get(URL, status=302, headers={"Location": "https://cdn.example/acme"})
    responses.get("https://cdn.example/acme", body="moved")
    assert get(fetcher(redirect_hosts=["CDN.example"])).text == "moved"


@responses.activate
def test_a_redirect_to_a_path_robots_txt_disallows_is_not_fetched(caplog):
    responses.get("https://reviews.example/robots.txt", body="User-agent: *\nDisallow: /x\n")
    responses.get(URL, status=302, headers={"Location": "/x/acme"})
    stats = CollectStats()
    assert get(fetcher(respect_robots=True), URL, stats) is None
    assert stats.skipped_robots == 1
    assert [c.request.url for c in responses.calls] == [
        "https://reviews.example/robots.txt", URL]
    assert "redirects to https://reviews.example/x/acme, which robots.txt disallows" in \
        caplog.text


@responses.activate
def test_a_post_answered_303_goes_on_as_a_get_without_the_body():
    responses.post(URL, status=303, headers={"Location": URL + "/result"})
    responses.get(URL + "/result", body="done")
    f = fetcher()
    assert f.post(URL, data={"q": "1"}, stats=CollectStats(), source="test").text == "done"
    assert responses.calls[1].request.method == "GET" and not responses.calls[1].request.body


@responses.activate
def test_a_body_over_the_cap_is_refused_and_not_retried():
    responses.get(URL, body=b"x" * 2001)
    stats = CollectStats()
    exc = raised(fetcher(max_bytes=2000), stats=stats)
    assert "response too large" in str(exc) and "2,000" in str(exc)
    assert stats.http_errors["too_large"] == 1 and len(responses.calls) == 1
    responses.replace(responses.GET, URL, body=b"x" * 2000)
    assert len(get(fetcher(max_bytes=2000)).content) == 2000


@responses.activate
def test_the_source_deadline_counts_waits_and_ends_the_source():
    responses.get(URL, status=503)
    clock = FakeClock()
    stats = CollectStats()
    exc = raised(fetcher(clock, max_retries=5, backoff_seconds=4,
                         source_deadline_seconds=10), stats=stats)
    # 4 s, then 8 s would pass the 10 s: the source stops instead of sleeping
    assert clock.sleeps == [4]
    assert "would pass the source deadline of 10 s" in str(exc)
    responses.replace(responses.GET, URL, body="ok")
    clock.now += 7  # 11 s since the source's first request: even a quick answer is not asked
    exc = raised(fetcher(clock, source_deadline_seconds=10), stats=stats)
    assert "source deadline of 10 s reached after 2 requests" in str(exc)


@pytest.fixture
def trickling():
    """A server that sends its headers and then one byte a second."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                while not stop.wait(1):
                    conn.sendall(b"x")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/feed"
    stop.set()
    listener.close()
    thread.join(5)


def test_a_trickling_server_is_cut_off_at_the_request_deadline(trickling):
    stats = CollectStats()
    exc = raised(fetcher(request_deadline_seconds=1.5, read_timeout=30, max_retries=3),
                 trickling, stats)
    # Each byte arrives well within the read timeout; only the total deadline stops it.
    assert "too slow: no complete answer within 1.5 s" in str(exc)
    assert stats.requests == 1 and stats.http_errors["deadline"] == 1  # not retried
