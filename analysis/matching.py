"""Brand matching: is this mention about the brand? Pure, the same for every source.

Keywords are whole words, case-insensitive; ``"quoted phrases"`` match as a phrase with
any run of spaces between words. A mention that contains an exclusion term, comes from an
excluded author or from an excluded target (subreddit, feed, ...) never matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


def _term_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    parts = []
    for term in terms:
        words = term.strip().strip('"').split()
        if words:
            parts.append(r"\s+".join(map(re.escape, words)))
    if not parts:
        return None
    # \b fails next to punctuation ("c++", "acme!"): use "no word character around" instead.
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def _target_key(target: str) -> str:
    key = target.strip().lower()
    key = key.removeprefix("/").removeprefix("r/")
    return key.split("/", 1)[0] if "/" in key and not key.startswith("http") else key


class Matcher:
    """``Matcher(["acme", '"acme cloud"'], exclude=["wile e. coyote"]).matches(mention)``."""

    def __init__(self, keywords: Iterable[str], exclude: Iterable[str] = (),
                 exclude_authors: Iterable[str] = (), exclude_targets: Iterable[str] = (),
                 exclude_subreddits: Iterable[str] = ()) -> None:
        self._keywords = _term_pattern(keywords)
        self._exclude = _term_pattern(exclude)
        self._authors = {a.strip().lower().removeprefix("u/") for a in exclude_authors}
        self._targets = {_target_key(t) for t in (*exclude_targets, *exclude_subreddits)}

    def matches_text(self, title: str | None = None, body: str | None = None,
                     author: str | None = None, target: str | None = None,
                     subreddit: str | None = None) -> bool:
        if author and author.strip().lower() in self._authors:
            return False
        if self._targets and any(place and _target_key(place) in self._targets
                                 for place in (target, subreddit)):
            return False
        text = "\n".join(part for part in (title, body) if part)
        if self._exclude and self._exclude.search(text):
            return False
        return bool(self._keywords and self._keywords.search(text))

    def matches(self, mention: Any) -> bool:
        """Duck-typed: anything with title, body, author, target (and ``extra`` dict)."""
        extra = getattr(mention, "extra", None) or {}
        return self.matches_text(getattr(mention, "title", None), getattr(mention, "body", None),
                                 getattr(mention, "author", None), getattr(mention, "target", None),
                                 extra.get("subreddit") if isinstance(extra, dict) else None)
