"""What people complain about: words and two-word phrases over-represented in a window of
negative mentions compared with the brand's baseline. Pure: plain values in, plain values out.

Method: log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008,
"Fightin' Words", section 3.5). For term w with count y_w in the window (total n) and c_w in the
baseline (total m), the prior is the pooled frequency, a_w = PRIOR * (y_w + c_w), a_0 = sum a_w:

    delta_w = log((y_w + a_w) / (n + a_0 - y_w - a_w)) - log((c_w + a_w) / (m + a_0 - c_w - a_w))
    var_w  ~= 1 / (y_w + a_w) + 1 / (c_w + a_w)
    z_w     = delta_w / sqrt(var_w)

The prior shrinks rare terms towards "no difference", so a word seen once in the window and never
before does not top the list (a raw frequency ratio would rank it first), while a word common
in both periods gets z near 0.

Counting: a term counts once per mention (document frequency), so one ranting post that says
"refund" ten times is one vote. Terms are lower-case words (2+ letters, not stop words) and
bigrams of adjacent words in one clause; a bigram may start with a negation ("not working",
"never answered", "no refund") but not end with a stop word. The brand's own names and keywords
(`exclude`) never appear, alone or in a bigram.

The pipeline keeps baseline counts incrementally: baseline = sum of count_terms(text) over the
baseline mentions (a Counter adds up), or it may pass the baseline texts themselves.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PRIOR = 1.0  # prior strength: a_w = PRIOR x pooled count of w
MIN_COUNT = 2  # a term must occur in at least this many window mentions
MIN_Z = 1.96  # and be over-represented at about the 5% level
COVER = 1.25  # a word mostly seen inside a listed phrase is not listed again

STOP_WORDS = frozenset("""
a about above after again against all almost also am an and any are aren't as at be because
been before being below between both but by can can't could couldn't did didn't do does doesn't
doing don't down during each even ever every few for from further get gets got had hadn't has
hasn't have haven't having he he'd he'll he's her here here's hers herself him himself his how
how's i i'd i'll i'm i've if in into is isn't it it's its itself just let's like me more most
much must mustn't my myself no nor not now of off on once one only or other ought our ours
ourselves out over own really same shan't she she'd she'll she's should shouldn't so some still
such than that that's the their theirs them themselves then there there's these they they'd
they'll they're they've this those through to too under until up us very was wasn't we we'd
we'll we're we've were weren't what what's when when's where where's which while who who's whom
why why's will with won't would wouldn't you you'd you'll you're you've your yours yourself
yourselves im ive dont didnt doesnt cant wont isnt wasnt ur u amp rt via http https www com
lol yes yeah ok okay oh hey hi thanks thank please never nothing want wants wanted need needs
know think going gonna go make made see say said also back well new many anyone someone
since ago else anything everything something everyone
""".split())
# Stop words that may still open a bigram: "not working", "never answered", "still waiting".
NEGATIONS = frozenset({"no", "not", "never", "nothing", "cannot", "can't", "cant", "don't",
                       "dont", "doesn't", "doesnt", "didn't", "didnt", "won't", "wont", "isn't",
                       "isnt", "wasn't", "wasnt", "haven't", "havent", "still"})

_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|&\w+;")
_CLAUSE = re.compile(r"[.!?;,:()\[\]\"\n]+")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


@dataclass(frozen=True)
class Term:
    term: str  # a word or two words joined by one space
    window_count: int  # window mentions containing it
    baseline_count: int  # baseline mentions containing it
    z: float  # log-odds z-score, window vs baseline (higher = more distinctive now)
    example_id: str  # the first window mention (in the order given) that contains it
    example: str


def _words(clause: str) -> list[str]:
    return _WORD.findall(clause)


def count_terms(text: str) -> Counter[str]:
    """Each distinct term of `text` once: lower-case words and two-word phrases as described in
    the module docstring (brand exclusion happens in `complaints`)."""
    text = html.unescape(text or "").replace("\u2019", "'").lower()
    text = _NOISE.sub(" ", text)
    found: set[str] = set()
    for clause in _CLAUSE.split(text):
        words = _words(clause)
        for k, w in enumerate(words):
            if len(w) < 2:
                continue
            if w not in STOP_WORDS:
                found.add(w)
                if k > 0:
                    prev = words[k - 1]
                    if len(prev) > 1 and (prev not in STOP_WORDS or prev in NEGATIONS):
                        found.add(f"{prev} {w}")
    return Counter(found)


def _excluded(term: str, exclude: set[str]) -> bool:
    return term in exclude or any(part in exclude for part in term.split(" "))


def complaints(
    window: Sequence[tuple[str, str]],
    baseline: Counter[str] | Iterable[str],
    exclude: Iterable[str] = (),
    top: int = 10,
    *,
    min_count: int = MIN_COUNT,
    min_z: float = MIN_Z,
) -> list[Term]:
    """Terms distinctively over-represented in `window` compared with `baseline`, best first.

    window: (mention_id, text) of the negative mentions of the period under study; pass them
        newest first to get the newest example of each term.
    baseline: the brand's usual talk, as a Counter of count_terms() summed over its mentions, or
        the texts themselves. It should not include the window.
    exclude: the brand's names and keywords (any case; multi-word names exclude every word).
    Returns at most `top` Terms with window_count >= min_count and z >= min_z.
    """
    blocked: set[str] = set()
    for name in exclude:
        lowered = name.lower().strip()
        blocked.add(lowered)
        blocked.update(_words(lowered))
    if not isinstance(baseline, Counter):
        texts = baseline
        baseline = Counter()
        for text in texts:
            baseline.update(count_terms(text))
    per_mention = [(mid, text, count_terms(text)) for mid, text in window]
    ours: Counter[str] = Counter()
    for _, _, terms in per_mention:
        ours.update(terms)
    n = sum(ours.values())
    m = sum(baseline.values())
    if not n:
        return []
    a0 = PRIOR * (n + m)
    scored = []
    for term, y in ours.items():
        if y < min_count or _excluded(term, blocked):
            continue
        c = baseline.get(term, 0)
        a = PRIOR * (y + c)
        delta = (math.log((y + a) / (n + a0 - y - a))
                 - math.log((c + a) / (m + a0 - c - a)))
        z = delta / math.sqrt(1.0 / (y + a) + 1.0 / (c + a))
        if z >= min_z:
            scored.append((z, term, y, c))
    scored.sort(key=lambda t: (-t[0], t[1]))

    chosen: list[tuple[float, str, int, int]] = []
    for item in scored:
        z, term, y, _ = item
        if " " in term:
            # a phrase replaces the words listed before it that mostly occur inside it
            chosen = [t for t in chosen
                      if " " in t[1] or t[1] not in term.split(" ") or t[2] > COVER * y]
        elif any(" " in t[1] and term in t[1].split(" ") and y <= COVER * t[2] for t in chosen):
            continue
        chosen.append(item)
    chosen = chosen[:top]

    out = []
    for z, term, y, c in chosen:
        mid, text = next((mid, text) for mid, text, terms in per_mention if term in terms)
        out.append(Term(term, y, c, round(z, 3), mid, text))
    return out
