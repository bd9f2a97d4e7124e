"""'What people complain about': constructed windows where the right answer is known."""

from __future__ import annotations

from collections import Counter

import pytest

from analysis.terms import Term, complaints, count_terms

# Usual chatter about a made-up brand, 400 mentions, several variants so counts differ.
CHATTER = [
    "Acme Cloud app is nice for tracking my runs",
    "love the new Acme Cloud dashboard",
    "Acme Cloud support helped me set up my account",
    "the app sync is a bit slow sometimes",
    "switched to Acme Cloud from another tracker",
    "Acme Cloud pricing seems fair for the features",
    "my watch connects to the app fine",
    "the app crashed once last month but fine since",
]
BASELINE = [f"{CHATTER[i % len(CHATTER)]} {['today', 'this week', 'again', ''][i % 4]}"
            for i in range(400)]
COMPLAINTS = [
    "Acme Cloud charged twice and I want a refund",
    "charged twice this month, still no refund from Acme Cloud",
    "where is my refund? I was charged twice",
    "Acme support never answered about the refund",
    "the app is slow and I got charged twice, refund please",
]
WINDOW = [(f"m{i}", COMPLAINTS[i % len(COMPLAINTS)]) for i in range(30)]
ONE_OFF = ("odd", "my zebra xylophone broke during the Acme Cloud sync")


def terms_of(result: list[Term]) -> list[str]:
    return [t.term for t in result]


def test_the_new_complaints_rank_on_top() -> None:
    result = complaints(WINDOW + [ONE_OFF], BASELINE, exclude={"Acme Cloud"})
    top = terms_of(result)[:2]
    assert set(top) == {"refund", "charged twice"}, terms_of(result)


def test_counts_and_example_are_right() -> None:
    result = {t.term: t for t in complaints(WINDOW, BASELINE, exclude={"Acme Cloud"})}
    refund = result["refund"]
    assert refund.window_count == sum("refund" in text for _, text in WINDOW)
    assert refund.baseline_count == 0
    assert "refund" in refund.example
    assert (refund.example_id, refund.example) in WINDOW
    assert refund.z > 0


def test_brand_name_and_keywords_never_appear() -> None:
    result = complaints(WINDOW, BASELINE, exclude={"Acme Cloud", "acmecloud"}, top=50,
                        min_z=0.0)
    for term in terms_of(result):
        assert "acme" not in term.split() and "cloud" not in term.split(), term


def mentions_word(terms: list[str], word: str) -> bool:
    return any(word in term.split() for term in terms)


def test_brand_appears_when_not_excluded() -> None:
    # the exclusion above is what removes it, not an accident of the counts
    window = [(f"b{i}", "Zorbix charged me twice, Zorbix refund now") for i in range(10)]
    assert mentions_word(terms_of(complaints(window, BASELINE, top=50, min_z=0.0)), "zorbix")
    assert not mentions_word(terms_of(complaints(window, BASELINE, exclude={"Zorbix"}, top=50,
                                                 min_z=0.0)), "zorbix")


def test_rare_one_off_word_is_not_on_top() -> None:
    result = complaints(WINDOW + [ONE_OFF], BASELINE, exclude={"Acme Cloud"}, min_count=1,
                        top=50, min_z=-100.0)
    ranked = terms_of(result)
    one_off = [k for k, term in enumerate(ranked) if "xylophone" in term.split()]
    assert one_off, ranked  # it is scored ...
    assert min(one_off) > ranked.index("refund")  # ... below the real complaints
    assert min(one_off) > ranked.index("charged twice")
    default = terms_of(complaints(WINDOW + [ONE_OFF], BASELINE, exclude={"Acme Cloud"}))
    assert not mentions_word(default, "xylophone")  # and dropped by the default min_count


def test_words_common_in_both_periods_are_not_distinctive() -> None:
    result = complaints(WINDOW, BASELINE, exclude={"Acme Cloud"}, top=50)
    assert "app" not in terms_of(result)
    assert "slow" not in terms_of(result)  # said as often before


def test_phrase_replaces_the_words_it_is_made_of() -> None:
    ranked = terms_of(complaints(WINDOW, BASELINE, exclude={"Acme Cloud"}, top=50))
    assert "charged twice" in ranked
    assert "twice" not in ranked


def test_baseline_as_counter_equals_baseline_as_texts() -> None:
    counts: Counter[str] = Counter()
    for text in BASELINE:
        counts.update(count_terms(text))
    assert complaints(WINDOW, counts, exclude={"Acme Cloud"}) == complaints(
        WINDOW, BASELINE, exclude={"Acme Cloud"})


def test_no_change_gives_nothing() -> None:
    window = [(f"w{i}", BASELINE[i]) for i in range(40)]
    assert complaints(window, BASELINE, exclude={"Acme Cloud"}) == []


def test_empty_window() -> None:
    assert complaints([], BASELINE) == []


def test_top_limits_the_list() -> None:
    assert len(complaints(WINDOW, BASELINE, top=1)) == 1


@pytest.mark.parametrize("text, present, absent", [
    ("The app is NOT working!!", {"app", "not working", "working"}, {"the", "is", "not"}),
    ("support never answered", {"support", "never answered", "answered"}, {"never"}),
    ("still waiting, still waiting", {"still waiting", "waiting"}, {"still"}),
    ("Broken link https://example.com/x @acme #fail", {"broken link", "link"},
     {"https", "example", "acme", "fail"}),
    ("charged. twice", {"charged", "twice"}, {"charged twice"}),  # not across a sentence
    ("It doesn&#39;t load", {"doesn't load", "load"}, {"doesn"}),
])
def test_count_terms(text: str, present: set[str], absent: set[str]) -> None:
    counts = count_terms(text)
    assert present <= set(counts), counts
    assert not absent & set(counts), counts
    assert all(v == 1 for v in counts.values())  # once per mention
