"""Text clean-up shared by collectors: HTML fragments to plain text, loose dates, stable ids."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

from .base import iso, parse_time

_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# Dates as review sites print them: "December 9, 2025", "9 Dec 2025", "2025/12/09".
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d", "%B %Y")
_DATE_IN_TEXT = re.compile(
    r"[A-Z][a-z]+\.? \d{1,2}, \d{4}|\d{1,2} [A-Z][a-z]+\.? \d{4}|\d{4}[-/]\d{2}[-/]\d{2}"
)


def html_to_text(fragment: str | None) -> str | None:
    """An HTML fragment (HN comment, feed summary, review body) as readable plain text."""
    if fragment is None:
        return None
    if "<" not in fragment and "&" not in fragment:
        return _tidy(fragment)
    with warnings.catch_warnings():  # a bare word looks like a file name to bs4
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(fragment, "html.parser")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(["p", "div", "li", "pre", "blockquote"]):
        block.insert_before("\n\n")
    return _tidy(html.unescape(soup.get_text()))


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def parse_date_loose(value: str | float | int | None) -> str | None:
    """parse_time(), then the date formats review pages print, also inside a sentence."""
    found = parse_time(value)
    if found or not isinstance(value, str):
        return found
    text = value.strip()
    candidates = [text, *(m.group(0) for m in _DATE_IN_TEXT.finditer(text))]
    for candidate in candidates:
        candidate = candidate.replace(".", "")
        found = parse_time(candidate.replace("/", "-"))
        if found:
            return found
        for fmt in _DATE_FORMATS:
            try:
                return iso(dt.datetime.strptime(candidate, fmt))
            except ValueError:
                continue
    return None


def stable_id(*parts: str | None) -> str:
    """A short id that stays the same when the same review is collected again."""
    joined = "\x1f".join(part or "" for part in parts)
    # surrogatepass: a lone surrogate in a title must not fail the page (same id otherwise)
    return hashlib.sha1(joined.encode("utf-8", "surrogatepass")).hexdigest()[:16]
