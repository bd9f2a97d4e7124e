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
_CHAR_CACHE: dict[str, tuple[int, ...]] = {}
_CACHE_MAX = 200_000


def tokens(text: str) -> list[str]:
    if "&" in text:
        text = html.unescape(text)
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def _char_grams(word: str) -> tuple[int, ...]:
    grams = _CHAR_CACHE.get(word)
    if grams is None:
        padded = f" {word} "
        size = len(padded)
        crc = zlib.crc32
        found = {(crc(padded[i:i + n].encode()) & _CHAR_MASK) + CHAR_OFFSET
                 for n in range(CHAR_MIN, min(CHAR_MAX, size) + 1)
                 for i in range(size - n + 1)}
        grams = tuple(found)
        if len(_CHAR_CACHE) >= _CACHE_MAX:
            _CHAR_CACHE.clear()
        _CHAR_CACHE[word] = grams
    return grams


def features(text: str) -> tuple[list[int], list[int]]:
    """(word feature ids, character feature ids), each without repeats; the character ids
    start at CHAR_OFFSET, so both index one table of WIDTH rows."""
    toks = tokens(text)
    crc = zlib.crc32
    words: set[int] = set()
    chars: set[int] = set()
    scope = 0
    prev = "<s>"
    for tok in toks:
        if tok in _CLAUSE or tok[0] in "!?" or tok in _CONTRAST:
            scope = 0
            marked = tok
        elif scope:
            scope -= 1
            marked = "!" + tok
        else:
            marked = tok
        if tok in _NEGATORS or tok.endswith("n't"):
            scope = NEGATION_SCOPE
        words.add(crc(marked.encode()) & _WORD_MASK)
        words.add(crc(f"{prev} {tok}".encode()) & _WORD_MASK)
        prev = tok
        if tok[0].isalnum():
            chars.update(_char_grams(tok))
    if toks:
        words.add(crc(f"{prev} </s>".encode()) & _WORD_MASK)
    return list(words), list(chars)


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
        w, c = features(text)
        z = self.bias + self.dense @ np.asarray(dense(lexicon_score))
        if w or c:
            rows = self.table[w + c]  # one gather; the table must be C-ordered for speed
            if w:
                z += rows[:len(w)].sum(axis=0) / math.sqrt(len(w))
            if c:
                z += rows[len(w):].sum(axis=0) / math.sqrt(len(c))
        return float(z[0]), float(z[1])

    def score(self, text: str, lexicon_score: float) -> float:
        z_neg, z_pos = self.logits(text, lexicon_score)
        return combine(self.blend, z_neg, z_pos, lexicon_score)


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
