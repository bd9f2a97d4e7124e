"""Sentiment of short social posts and reviews, in [-1, 1]. Pure and offline.

Public surface that users' scripts rely on (keep it stable):
    score(text, rating=None) -> float in [-1, 1]; negative below NEGATIVE_CUT.
    label(value) -> "negative" | "neutral" | "positive"
    analyze(text, rating=None, overrides=None) -> Sentiment (score, label, details)
    MODEL, VERSION: stored with every score so a new scorer is a new version.

Two parts, the second reading the first:
1. The lexicon (`lexicon_score`): VADER's method (Hutto & Gilbert 2014) re-implemented in one
   pass with VADER's lexicon and constants, plus complaint vocabulary (analysis.lexicon),
   negated expectations ("doesn't work"), clause-scoped negation, contrast in every sentence,
   sarcasm markers and counterfactuals, review titles counted double (details in
   benchmarks/sentiment/README.md). A brand's `overrides` change this part.
2. A learned model (analysis.textmodel, weights in analysis/sentiment_model.npz) over hashed
   word 1-2-grams with negation marking and character 2-5-grams, with the lexicon's score as
   an input: it recognises complaints with no angry word ("charged twice", "still waiting for
   my refund", "they work two weeks then break"), negated advice ("don't waste your money"),
   misspellings and glued sentences. Trained only on ../shared/corpus/sentiment_train
   (benchmarks/sentiment/train.py); the text score is p(positive) - p(negative).

Stars: a 1-2 star review is negative whatever its wording (score = min(stars, text)); otherwise
score = mean of stars and text. `disagrees` is True when text and stars have opposite
non-neutral labels (a glowing 1-star review, a furious 5-star one).

Language: `lang` is detected offline (analysis.language: script, then function words). Text
detected as a language other than English is NOT scored by the English model: text_score is
None, the score comes from the stars when there are any, and otherwise it is 0.0 with label
"neutral" -- so such mentions never count as negative by accident, and `lang` plus
`text_score IS NULL` tells a reader they were not read. `lang` is None when the text is too short
to tell; such text is scored as English.

Cut-offs: NEGATIVE_CUT and POSITIVE_CUT were chosen by train.py on leave-one-source-out
predictions on the training data (mean negative F1, then mean three-way accuracy); the
evaluation sets in ../shared/corpus/sentiment were not used to choose them.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from vaderSentiment import vaderSentiment as _v

from analysis import language, textmodel
from analysis import lexicon as _lex

MODEL = "earful-ngram"
VERSION = "2.1"
# Chosen by benchmarks/sentiment/train.py on leave-one-source-out predictions on the training
# data (also stored in the model file's metadata); retrain and bump VERSION whenever the model,
# the lexicon or its vocabulary changes.
NEGATIVE_CUT = -0.07
POSITIVE_CUT = 0.37
# The blend tanh((z_pos - z_neg) / d + w * lexicon) reads a text that is neither positive nor
# negative ("Where is the export setting?") as negative: both one-vs-rest models say "no", and
# "not positive" more firmly (half the demo's neutral questions and news read as negative).
# So a negative blend counts only with evidence of its own: a negative cue the lexicon sees
# ("crashes", "not happy", "came loose"), or the negative-vs-rest model's probability at least
# NEGATIVE_EVIDENCE. Checked on a sample of each training source (not the evaluation sets):
# neutral rows read as negative fall from 42% to 35% (Reddit), 33% to 32% (clothing) and 22%
# to 21% (food), negative recall is unchanged on every source; the demo's neutral questions
# and news read as negative fall from 52% to 3% (as with the lexicon alone).
NEGATIVE_EVIDENCE = 0.25
MODEL_FILE = "sentiment_model.npz"
# The cut-offs of the lexicon alone (chosen for earful-vader 1.0), for benchmarks.
LEXICON_NEGATIVE_CUT = -0.01
LEXICON_POSITIVE_CUT = 0.19

_NEGATORS = frozenset(_v.NEGATE) | {"no"}
_IRREALIS_START = frozenset(k.split(" ", 1)[0] for k in _lex.IRREALIS)
_LIKE_AS_PREPOSITION = frozenset({"look", "looks", "looked", "looking", "feel", "feels", "felt",
                                  "feeling", "seem", "seems", "seemed", "sound", "sounds",
                                  "smell", "smells", "smelled", "fit", "fits", "just"})
_BOOST = dict(_v.BOOSTER_DICT)
_BOOST.update({w: _v.B_INCR for w in _lex.BOOSTERS})
_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_CLAUSE_END = frozenset(",;:.!?")
_GLUED = re.compile(r"([a-z][.!?]+)([A-Z])")
_SENTENCE_END = frozenset(".!?")
NEGATED_NEGATIVE = -0.5  # "not bad" is faint praise, not the mirror image of "bad"
NEGATED_POSITIVE = _v.N_SCALAR  # VADER's -0.74: "not good" is clearly negative
SENTENCE_ALPHA = 4.0  # alpha of VADER's normalisation grows by this per extra sentence
SARCASM_SCALAR = -0.5
IRREALIS_SCALAR = -0.5  # "would have been nice": praise of what is missing
HEADLINE_WORDS = 8  # a first line this short, with more text below, is a title
HEADLINE_WEIGHT = 2.0


@dataclass(frozen=True)
class Sentiment:
    score: float
    label: str
    text_score: float | None = None
    rating_score: float | None = None
    disagrees: bool = False  # text and stars point in opposite directions
    lang: str | None = None


class _Scorer:
    """VADER's lexicon plus ours plus a brand's overrides, with the one-pass scoring."""

    def __init__(self, overrides: tuple[tuple[str, float], ...] = ()) -> None:
        words = dict(_base_lexicon())
        phrases = dict(_lex.PHRASES)
        for key, value in overrides:
            (phrases if " " in key else words)[key] = value
        self.words = words
        self.phrases = phrases
        self.max_phrase = max((k.count(" ") + 1 for k in phrases), default=1)
        self.starts = frozenset(k.split(" ", 1)[0] for k in phrases)
        self.emoji = _emoji_table()

    def tokens(self, text: str) -> tuple[list[str], list[str], list[bool], list[bool], int]:
        """Raw tokens, lower-cased tokens, clause ends, sentence ends (VADER's splitting:
        whitespace, then punctuation stripped unless that leaves two characters or fewer), and
        the length of the headline (a short first line followed by more lines) or 0."""
        if "&" in text:
            text = html.unescape(text)  # "wasn&#39;t", "&amp;" in scraped reviews and tweets
        if _GLUED.search(text):  # "unacceptable.Unless": two sentences, not one word
            text = _GLUED.sub(r"\1 \2", text)
        if not text.isascii():
            text = text.translate(self.emoji)
        raw: list[str] = []
        clause: list[bool] = []
        sentence: list[bool] = []
        headline = -1
        strip, ends, stops = str.strip, _CLAUSE_END, _SENTENCE_END
        for line in text.splitlines() if ("\n" in text or "\r" in text) else (text,):
            tokens = line.split()
            if not tokens:
                continue
            # VADER keeps short tokens whole (emoticons such as ":)" or ":D"); we also strip
            # short words ("ok." -> "ok"), which VADER misses.
            stripped = [s if len(s) > 2 or (s.isalpha() and t[0].isalnum()) else t
                        for t, s in zip(tokens, [strip(t, _PUNCT) for t in tokens],
                                        strict=True)]
            marks = [t[-1] in ends and (s != t or t[0].isalnum())
                     for t, s in zip(tokens, stripped, strict=True)]
            raw += stripped
            clause += marks
            sentence += [m and t[-1] in stops for t, m in zip(tokens, marks, strict=True)]
            clause[-1] = sentence[-1] = True  # a line break ends a sentence
            if headline == -1:
                headline = len(raw)
        lower = [t.lower() for t in raw]
        if headline == len(raw) or headline > HEADLINE_WORDS:
            headline = 0
        return raw, lower, clause, sentence, max(headline, 0)

    def valences(self, raw: list[str], lower: list[str], clause: list[bool],
                 sentence: list[bool]) -> list[float]:
        words, phrases, starts, n = self.words, self.phrases, self.starts, len(lower)
        caps_differ = 0 < sum(map(str.isupper, raw)) < n
        out = [0.0] * n
        skip = 0
        irrealis = False
        for i, w in enumerate(lower):
            if i and clause[i - 1]:
                irrealis = False
            if w in _IRREALIS_START and (w in _lex.IRREALIS or (
                    i + 1 < n and f"{w} {lower[i + 1]}" in _lex.IRREALIS)):
                irrealis = True
            if skip:
                skip -= 1
                continue
            if w in _BOOST:
                continue
            valence = None
            if w in starts:
                for size in range(min(self.max_phrase, n - i), 1, -1):
                    value = phrases.get(" ".join(lower[i:i + size]))
                    if value is not None:
                        valence, skip = value, size - 1
                        break
            phrase = valence is not None
            if not phrase:
                valence = words.get(w)
                if valence is None and w not in _lex.EXPECTED:
                    continue  # most words: no valence, nothing to negate
            # Look back at most 3 words within the clause for boosters and negators.
            back = []
            j = i - 1
            while j >= 0 and len(back) < 3 and not clause[j]:
                back.append(j)
                j -= 1
            # "no" negates only the next two words, as in VADER ("no one will care if...")
            negated = any((lower[k] in _NEGATORS and (lower[k] != "no" or d < 2))
                          or "n't" in lower[k] for d, k in enumerate(back))
            if not phrase:
                if valence is None:
                    if negated:
                        out[i] = _lex.EXPECTED_FAILED  # "doesn't work", "never answered"
                    continue
                if w == "no" and i + 1 < n and lower[i + 1] in words:
                    continue  # "no" before a valenced word is a negator, not a complaint
                if w == "kind" and i + 1 < n and lower[i + 1] == "of":
                    continue  # "kind of" is a dampener, not kindness
                if w == "like" and i and lower[i - 1] in _LIKE_AS_PREPOSITION:
                    continue  # "looks like", "feels like": a comparison, not a liking
                if not w[0].isalpha():
                    negated = False  # emoticons and emoji are not negated: "no cheque :("
            elif valence != 0:
                negated = False  # a phrase carries its own polarity ("no problems", "not worth")
            if raw[i].isupper() and caps_differ:
                valence += _v.C_INCR if valence > 0 else -_v.C_INCR
            for distance, k in enumerate(back):
                boost = _BOOST.get(lower[k])
                if lower[k] == "of" and k > 0 and lower[k - 1] in ("kind", "sort"):
                    boost = _v.B_DECR
                if boost is not None and lower[k] not in words:
                    boost *= (1.0, 0.95, 0.9)[distance]
                    if valence < 0:
                        boost = -boost
                    if raw[k].isupper() and caps_differ:
                        boost += _v.C_INCR if valence > 0 else -_v.C_INCR
                    valence += boost
            if negated and w not in _lex.NO_FLIP:
                if lower[back[0]] in ("so", "this") and len(back) > 1 and not (
                        lower[back[1]] in _NEGATORS or "n't" in lower[back[1]]):
                    valence *= 1.25  # "never slept so well", "haven't been this sore" (VADER)
                else:
                    valence *= NEGATED_POSITIVE if valence > 0 else NEGATED_NEGATIVE
            elif back and lower[back[0]] == "least" and (len(back) < 2
                                                        or lower[back[1]] not in ("at", "very")):
                valence *= _v.N_SCALAR
            if irrealis and valence > 0:
                valence *= IRREALIS_SCALAR
            out[i] = valence
        self._contrast(lower, sentence, out)
        return out

    @staticmethod
    def _contrast(lower: list[str], sentence: list[bool], out: list[float]) -> None:
        """Per sentence: words before the last contrast marker x0.5, after it x1.5. A sentence
        opening with one discounts the previous sentence."""
        if _lex.CONTRAST.isdisjoint(lower):
            return
        start = 0
        previous = None
        for end in range(len(lower)):
            if not sentence[end] and end != len(lower) - 1:
                continue
            marker = None
            for k in range(start, end):  # a sentence-final "though" contrasts nothing
                if lower[k] in _lex.CONTRAST:
                    marker = k
            if marker is not None:
                if marker == start and previous is not None:
                    for k in range(previous[0], previous[1] + 1):
                        out[k] *= 0.5
                for k in range(start, end + 1):
                    if k < marker:
                        out[k] *= 0.5
                    elif k > marker:
                        out[k] *= 1.5
            previous = (start, end)
            start = end + 1

    def score(self, text: str, tokens=None) -> float:
        raw, lower, clause, sentence, headline = tokens or self.tokens(text)
        if not raw:
            return 0.0
        out = self.valences(raw, lower, clause, sentence)
        for k in range(headline):
            out[k] *= HEADLINE_WEIGHT  # a review's title states its verdict
        if not _lex.SARCASM.isdisjoint(lower):
            out = [v * SARCASM_SCALAR if v > 0 else v for v in out]
        total = sum(out)
        if total == 0:
            return 0.0
        # VADER's punctuation emphasis
        emphasis = min(text.count("!"), 4) * 0.292
        questions = text.count("?")
        if questions > 1:
            emphasis += questions * 0.18 if questions <= 3 else 0.96
        total += emphasis if total > 0 else -emphasis
        sentences = max(1, sum(sentence))
        alpha = 15.0 + SENTENCE_ALPHA * (sentences - 1)
        return max(-1.0, min(1.0, total / math.sqrt(total * total + alpha)))


@lru_cache(maxsize=1)
def _base_lexicon() -> dict[str, float]:
    words = dict(_v.SentimentIntensityAnalyzer().lexicon)
    words.update(_lex.DOMAIN)
    for word in _lex.TOPIC:
        words.pop(word, None)
    words.update(_lex.emoji_valences())
    return words


@lru_cache(maxsize=1)
def _emoji_table() -> dict[int, str]:
    """str.translate table: emoji get spaces around them (so they are tokens); variation
    selectors, skin tones and joiners go."""
    table = {ord(e): f" {e} " for e in _lex.emoji_valences()}
    table.update({ord(c): None for c in _lex.EMOJI_STRIP})
    return table


@lru_cache(maxsize=32)
def _scorer(overrides: tuple[tuple[str, float], ...] = ()) -> _Scorer:
    return _Scorer(overrides)


@lru_cache(maxsize=1)
def model() -> textmodel.Model:
    """The shipped model, read once per process (the score stage loads it before forking)."""
    return textmodel.load(resources.files("analysis").joinpath(MODEL_FILE).read_bytes())


def lexicon_score(text: str, overrides: dict[str, float] | None = None) -> float:
    """The lexicon part alone (no language check), for benchmarks and training."""
    return _scorer(_override_key(overrides)).score(text)


def _override_key(overrides: dict[str, float] | None) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((k.lower(), float(v)) for k, v in overrides.items())) if overrides else ()


def label(value: float) -> str:
    if value < NEGATIVE_CUT:
        return "negative"
    if value > POSITIVE_CUT:
        return "positive"
    return "neutral"


def rating_score(rating: float) -> float:
    """Stars 0-5 mapped to [-1, 1]: 1 star -1, 3 stars 0, 5 stars +1."""
    return max(-1.0, min(1.0, (float(rating) - 3.0) / 2.0))


def text_score(text: str, overrides: dict[str, float] | None = None) -> tuple[float | None,
                                                                               str | None]:
    """(score of the words or None when not read, detected language)."""
    if not text or not text.strip():
        return None, None
    scorer = _scorer(_override_key(overrides))
    tokens = scorer.tokens(text)
    lang = language.detect(text, tokens[1])
    if lang is not None and lang != "en":
        return None, lang
    lexicon = scorer.score(text, tokens)
    z_neg, z_pos = model().logits(text, lexicon)
    return _gate(textmodel.combine(model().blend, z_neg, z_pos, lexicon), z_neg, lexicon), lang


def _gate(value: float, z_neg: float, lexicon: float) -> float:
    """A negative blend without evidence of its own (NEGATIVE_EVIDENCE) becomes neutral,
    ordered by the negative model's probability, so the scale still ranks by the evidence."""
    if value >= NEGATIVE_CUT or lexicon < LEXICON_NEGATIVE_CUT:
        return value
    p_neg = 1.0 / (1.0 + math.exp(-z_neg))
    if p_neg >= NEGATIVE_EVIDENCE:
        return value
    return NEGATIVE_CUT * p_neg / NEGATIVE_EVIDENCE


def analyze(
    text: str, rating: float | None = None, overrides: dict[str, float] | None = None
) -> Sentiment:
    words, lang = text_score(text, overrides)
    stars = rating_score(rating) if rating is not None else None
    if stars is not None and stars <= -0.5:  # a 1-2 star review is negative whatever its words
        value = min(stars, words) if words is not None else stars
    elif stars is not None:
        value = stars if words is None else 0.5 * stars + 0.5 * words
    else:
        value = words if words is not None else 0.0
    disagrees = (
        words is not None
        and stars is not None
        and label(words) != "neutral"
        and label(stars) != "neutral"
        and label(words) != label(stars)
    )
    value = max(-1.0, min(1.0, value))
    return Sentiment(value, label(value), words, stars, disagrees, lang)


def score(text: str, rating: float | None = None) -> float:
    return analyze(text, rating).score
