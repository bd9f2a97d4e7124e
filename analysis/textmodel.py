"""A learned sentiment model over hashed word and character n-grams, in pure numpy.

The same `features` function serves training (benchmarks/sentiment/train.py builds its sparse
matrix from it) and inference, so the hashing matches by construction: a feature is
zlib.crc32 of its UTF-8 key, masked to the size of its block; there is no dependency on
scikit-learn's hashing at run time.

Features of one text (lower-cased, HTML entities decoded, words split at punctuation even
without a space, so "unacceptable.Unless" is two words):
- words: unigrams, with a "!" prefix inside a negation scope ("don't waste" -> "!waste": from a
  negator to the end of its clause, at most NEGATION_SCOPE words), and plain bigrams;
- characters: 2..5-grams of each word padded with spaces (scikit-learn's "char_wb"), robust to
  misspellings ("dissapointing" shares most of its grams with "disappointing");
- dense: the lexicon scorer's value and its cues (analysis.sentiment passes them in).
Each sparse block is binary and L2-normalised on its own. Two linear models (negative vs rest,
positive vs rest) are blended with the lexicon score (`combine`, weights chosen on
leave-one-source-out predictions, see train.py) into a score in [-1, 1].
"""

from __future__ import annotations

import html
import io
import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

WORD_BITS = 20
CHAR_BITS = 20
NEGATION_SCOPE = 4
CHAR_MIN, CHAR_MAX = 2, 5

_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[!?]+|[.,;:]|[^\w\s]", re.UNICODE)
_CLAUSE = frozenset(".,;:!?")
_NEGATORS = frozenset("""not no never none nothing nobody nowhere nor neither without cannot
cant dont didnt doesnt wont isnt wasnt arent werent couldnt wouldnt shouldnt havent hasnt hadnt
aint""".split())
_CONTRAST = frozenset({"but", "however", "although", "though", "yet"})
_WORD_MASK = (1 << WORD_BITS) - 1
_CHAR_MASK = (1 << CHAR_BITS) - 1
CHAR_OFFSET = 1 << WORD_BITS  # character ids follow the word ids in one weight table
WIDTH = CHAR_OFFSET + (1 << CHAR_BITS)
_TOKEN_CACHE: dict[str, tuple] = {}
_CACHE_MAX = 200_000
_START = zlib.crc32(b"<s>")


def tokens(text: str) -> list[str]:
    if "&" in text:
        text = html.unescape(text)
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def _token(tok: str) -> tuple:
    """Everything features() needs about one token, computed once per distinct token."""
    entry = _TOKEN_CACHE.get(tok)
    if entry is None:
        raw = tok.encode()
        full = zlib.crc32(raw)
        chars = None
        if tok[0].isalnum():
            padded = f" {tok} "
            size = len(padded)
            chars = tuple({(zlib.crc32(padded[i:i + n].encode()) & _CHAR_MASK) + CHAR_OFFSET
                           for n in range(CHAR_MIN, min(CHAR_MAX, size) + 1)
                           for i in range(size - n + 1)})
        entry = (full,  # crc32 of the token: a bigram's crc continues from it
                 full & _WORD_MASK,  # unigram id
                 zlib.crc32(b"!" + raw) & _WORD_MASK,  # unigram id inside a negation scope
                 b" " + raw,  # crc32(b" tok", crc32(b"prev")) == crc32(b"prev tok")
                 tok in _CLAUSE or tok[0] in "!?" or tok in _CONTRAST,  # ends a scope
                 tok in _NEGATORS or tok.endswith("n't"),  # opens a scope
                 chars)
        if len(_TOKEN_CACHE) >= _CACHE_MAX:
            _TOKEN_CACHE.clear()
        _TOKEN_CACHE[tok] = entry
    return entry


def features(text: str) -> tuple[list[int], np.ndarray]:
    """(word feature ids, character feature ids), each without repeats; the character ids
    start at CHAR_OFFSET, so both index one table of WIDTH rows.

    Word features: the token ("!token" inside a negation scope) and the bigram "prev token"
    (from "<s>" to "</s>"), each crc32 of its UTF-8 text masked to WORD_BITS."""
    crc, mask = zlib.crc32, _WORD_MASK
    words: set[int] = set()
    grams = []
    scope = 0
    prev = _START
    for tok in tokens(text):
        full, uni, negated, spaced, resets, opens, chars = _token(tok)
        if resets:
            scope = 0
            words.add(uni)
        elif scope:
            scope -= 1
            words.add(negated)
        else:
            words.add(uni)
        if opens:
            scope = NEGATION_SCOPE
        words.add(crc(spaced, prev) & mask)
        prev = full
        if chars is not None:
            grams.append(chars)
    if prev != _START:
        words.add(crc(b" </s>", prev) & mask)
    chars = set().union(*grams)  # a set in C is faster here than np.unique
    return list(words), np.fromiter(chars, dtype=np.intp, count=len(chars))


def dense(lexicon_score: float) -> list[float]:
    """The lexicon's value and cues as model inputs. No length feature: the one all-negative
    source (CFPB narratives) is also the longest, so length would learn "long = complaint"."""
    s = lexicon_score
    return [s, max(s, 0.0), min(s, 0.0), float(s == 0.0)]


@dataclass
class Model:
    table: np.ndarray  # (WIDTH, 2) float32: weights of negative-vs-rest, positive-vs-rest
    dense: np.ndarray  # (2, len(dense()))
    bias: np.ndarray  # (2,)
    blend: np.ndarray  # [lexicon weight, n-gram divisor], see combine()
    meta: dict[str, Any]

    def logits(self, text: str, lexicon_score: float) -> tuple[float, float]:
        # Plain floats except for the two gathers: numpy's per-call cost dominates short texts.
        w, c = features(text)
        d = dense(lexicon_score)
        (n0, n1, n2, n3), (p0, p1, p2, p3) = self.dense.tolist()
        z_neg = self.bias[0] + n0 * d[0] + n1 * d[1] + n2 * d[2] + n3 * d[3]
        z_pos = self.bias[1] + p0 * d[0] + p1 * d[1] + p2 * d[2] + p3 * d[3]
        if w:  # the table must be C-ordered: each id reads one row of two weights
            a, b = self.table[w].sum(axis=0).tolist()
            scale = 1.0 / math.sqrt(len(w))
            z_neg += a * scale
            z_pos += b * scale
        if len(c):
            a, b = self.table[c].sum(axis=0).tolist()
            scale = 1.0 / math.sqrt(len(c))
            z_neg += a * scale
            z_pos += b * scale
        return float(z_neg), float(z_pos)


def combine(blend, z_neg: float, z_pos: float, lexicon_score: float) -> float:
    """tanh((z_pos - z_neg) / divisor + weight * lexicon): the lexicon keeps a say where the
    n-grams are unsure or off their training domain (weights chosen by leave-one-source-out)."""
    weight, divisor = blend[0], blend[1]
    return math.tanh((z_pos - z_neg) / divisor + weight * lexicon_score)


def save(model: Model) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, table=model.table.astype(np.float16),
                        dense=model.dense, bias=model.bias, blend=model.blend,
                        meta=np.frombuffer(json.dumps(model.meta).encode(), dtype=np.uint8))
    return buf.getvalue()


def load(blob: bytes) -> Model:
    with np.load(io.BytesIO(blob)) as f:
        return Model(table=np.ascontiguousarray(f["table"], dtype=np.float32),
                     dense=f["dense"].astype(np.float64), bias=f["bias"].astype(np.float64),
                     blend=f["blend"].astype(np.float64),
                     meta=json.loads(f["meta"].tobytes().decode()))
