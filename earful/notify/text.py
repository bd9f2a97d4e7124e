"""Safe text and links for every channel: pure functions, no database, no network.

Everything that comes from a mention is untrusted: it is cleaned of control and bidi
characters, URL-looking text is defanged so mail and chat apps don't turn it into links,
and only a mention's own http(s) URL becomes a link (labelled with its real host).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from pathlib import Path
from typing import Any

from collectors.base import parse_iso

from ..config import Config

SOURCE_NAMES = {"reddit": "Reddit", "hackernews": "Hacker News", "hn": "Hacker News",
                "feed": "Google Alerts / feeds",
                "schemaorg": "review pages", "trustpilot": "Trustpilot", "appstore": "App Store",
                "googleplay": "Google Play", "css": "review pages"}


def when(text: str | None, *, date: bool = True) -> str:
    """'Sun 22 Nov 07:00 UTC': what a reader on a phone takes in at a glance."""
    if not text:
        return ""
    m = parse_iso(text)
    return f"{m:%a} {m.day} {m:%b %H:%M} UTC" if date else f"{m:%H:%M} UTC"


def source_name(source: str) -> str:
    return SOURCE_NAMES.get(source, source)


def tilde(value: str) -> str:
    """Datasette's tilde-encoding of a primary key in a row URL (``reddit:x`` -> ``reddit~3Ax``)."""
    return "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_-")
                   else "+" if b == 32 else f"~{b:02X}" for b in value.encode())


# Also U+061C (Arabic letter mark, a bidi control), U+180E and the invisible tag characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u202a-\u202e"
                      r"\u2060-\u2069\ufeff\U000e0000-\U000e007f]")
# A URL with a scheme or www., or a bare domain (paypa1.com/login): mail clients link both.
_URLISH = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]{1,15}://|www\.)[^\s<>\"']+"
                     r"|\b(?:[a-z0-9](?:[a-z0-9-]{0,62})\.)+[a-z]{2,24}\b(?:/[^\s<>\"']*)?")


def _defang(match: re.Match[str]) -> str:
    # "https://paypa1.com/x" -> "https[://]paypa1[.]com/x": readable, never a link.
    scheme, sep, rest = match.group(0).partition("://")
    if not sep:
        scheme, rest = "", match.group(0)
    host, slash, path = rest.partition("/")
    return (scheme + "[://]" if sep else "") + host.replace(".", "[.]") + slash + path


def clean(text: str | None, limit: int = 280) -> str:
    """Mention text for a message: control, bidi and zero-width characters out, links
    defanged, whitespace folded, length capped. Still needs escaping for HTML."""
    text = _CONTROL.sub("", text or "")
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
    return _URLISH.sub(_defang, text)


def safe_url(url: str | None) -> str | None:
    # Only a mention's own http(s) link becomes a link; anything else stays out.
    # A backslash or user info: browsers read https://evil.example\\@larkspur.example/ as
    # evil.example, Python as larkspur.example, so the label would lie.
    if not url or _CONTROL.search(url) or any(c.isspace() or c == "\\" for c in url):
        return None
    parts = urllib.parse.urlparse(url)
    if "@" in parts.netloc:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def host_of(url: str) -> str:
    host = urllib.parse.urlparse(url).hostname or ""
    return host[4:] if host.startswith("www.") else host


class Links:
    """Datasette URLs, from ``earful.datasette_url`` and the database file's name."""

    def __init__(self, base: str, database: str) -> None:
        self.base, self.database = base.rstrip("/"), database

    @classmethod
    def of(cls, config: Config) -> Links:
        return cls(config.earful["datasette_url"], Path(config.database).stem)

    def table(self, name: str, **query: Any) -> str:
        qs = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        return f"{self.base}/{self.database}/{name}" + (f"?{qs}" if qs else "")

    def row(self, table: str, pk: str) -> str:
        return f"{self.base}/{self.database}/{table}/{tilde(pk)}"

    def query(self, name: str, **params: Any) -> str:
        return self.table(name, **params)

    @property
    def reachable(self) -> bool:
        """Whether a chat service could fetch from this Datasette: not a loopback or private
        address. Slack refuses a whole message whose image it cannot download."""
        host = urllib.parse.urlparse(self.base).hostname or ""
        if host == "localhost" or host.endswith((".local", ".localhost", ".internal")):
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return True  # a public host name
        return address.is_global

    def chart(self, episode_id: str) -> str:
        """The episode's chart as a PNG, served by earful's Datasette plugin (for chat cards,
        which cannot carry an inline image the way an email does)."""
        return f"{self.base}/-/earful/chart.png?" + urllib.parse.urlencode(
            {"database": self.database, "episode": episode_id})
