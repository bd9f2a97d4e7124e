"""Choose the three-way cut-offs on the dev split (odd ids) of every labelled set.

    python benchmarks/sentiment/calibrate.py

Negative cut (searched in -0.60 .. 0.00): maximises the mean, over the three sets, of the
negative-class F1 (what alerts count). Positive cut (0.00 .. 0.60): then maximises the mean
three-way accuracy. Ties go to the cut nearest 0. One pair of
cut-offs for all sources, since the pipeline does not know which kind of text a mention is.
Copy the printed values into analysis/sentiment.py (and bump VERSION).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.sentiment import data
from benchmarks.sentiment import metrics as m

# Cuts are searched on -0.60 .. 0.60 with the negative cut at most 0 and the positive at least 0:
# a text with no sentiment words (score 0) must stay neutral whatever the dev sets prefer.
GRID = [round(-0.6 + 0.01 * i, 2) for i in range(121)]


def calibrate(scored: Sequence[tuple[Sequence[float], Sequence[str]]]) -> tuple[float, float]:
    """scored: per set, (scores, gold labels). Returns (negative_cut, positive_cut)."""
    def mean_f1(cut: float) -> float:
        return sum(m.negative_prf(g, ["negative" if x < cut else "other" for x in s])[2]
                   for s, g in scored) / len(scored)

    negative = max((c for c in GRID if c <= 0), key=lambda c: (round(mean_f1(c), 4), -abs(c)))

    def mean_acc(cut: float) -> float:
        return sum(m.accuracy(g, [m.three_way(x, negative, cut) for x in s])
                   for s, g in scored) / len(scored)

    positive = max((c for c in GRID if c >= 0), key=lambda c: (round(mean_acc(c), 4),
                                                                        -abs(c)))
    return negative, positive


def dev_scores(scorer: Callable[[str], float]) -> list[tuple[list[float], list[str]]]:
    out = []
    for load in data.SETS.values():
        items = [i for i in load() if i.dev]
        out.append(([scorer(i.text) for i in items], [i.gold for i in items]))
    return out


def main() -> None:
    if not data.available():
        sys.exit(f"corpus not found at {data.CORPUS}: nothing to calibrate")
    from analysis import sentiment

    negative, positive = calibrate(dev_scores(lambda t: sentiment.analyze(t).score))
    print(f"NEGATIVE_CUT = {negative}\nPOSITIVE_CUT = {positive}")


if __name__ == "__main__":
    main()
