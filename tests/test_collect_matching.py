"""Brand matching: whole words, phrases, exclusions; the same for every source."""

from __future__ import annotations

from analysis.matching import Matcher
from collectors.base import Mention


def mention(title=None, body=None, author=None, target="search:acme", **extra) -> Mention:
    return Mention(source="reddit", native_id="x", kind="post", target=target,
                   created_at="2026-11-20T00:00:00Z", title=title, body=body, author=author,
                   extra=extra)


def test_whole_words_case_insensitive():
    m = Matcher(["acme"])
    assert m.matches(mention(title="ACME is down!"))
    assert m.matches(mention(body="I love acme."))
    assert not m.matches(mention(body="acmeish and peacemeal"))


def test_quoted_phrases_match_as_phrases_across_spaces():
    m = Matcher(['"acme cloud"'])
    assert m.matches(mention(body="the Acme   Cloud console"))
    assert not m.matches(mention(body="acme has a cloud"))


def test_terms_with_punctuation():
    assert Matcher(["c++"]).matches(mention(body="I write C++ daily"))
    assert not Matcher(["c++"]).matches(mention(body="I write c+ daily"))


def test_exclusions_authors_and_targets():
    m = Matcher(["acme"], exclude=["wile e. coyote"], exclude_authors=["AcmeSupport"],
                exclude_targets=["r/acmefans"], exclude_subreddits=["AcmeCorp"])
    assert not m.matches(mention(body="Wile E. Coyote buys acme rockets"))
    assert not m.matches(mention(body="acme here", author="acmesupport"))
    assert not m.matches(mention(body="acme", target="r/AcmeFans/new"))
    assert not m.matches(mention(body="acme", subreddit="acmecorp"))
    assert m.matches(mention(body="acme", subreddit="sysadmin", author="pat"))


def test_plain_values_work_without_a_mention():
    m = Matcher(["acme"])
    assert m.matches_text(title="Acme", body=None, author=None, target="https://feed")
    assert not Matcher([]).matches_text(body="acme")
