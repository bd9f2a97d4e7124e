"""Plain metrics (no numpy needed): Pearson r, negative-class P/R/F1, three-way accuracy."""

from __future__ import annotations

import math
from collections.abc import Sequence


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else 0.0


def negative_prf(gold: Sequence[str], pred: Sequence[str]) -> tuple[float, float, float]:
    tp = sum(g == p == "negative" for g, p in zip(gold, pred, strict=True))
    npred = sum(p == "negative" for p in pred)
    ngold = sum(g == "negative" for g in gold)
    precision = tp / npred if npred else 0.0
    recall = tp / ngold if ngold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def three_way(value: float, negative_cut: float, positive_cut: float) -> str:
    if value < negative_cut:
        return "negative"
    if value > positive_cut:
        return "positive"
    return "neutral"


def negative_auc(gold: Sequence[str], scores: Sequence[float]) -> float:
    """ROC AUC of "negative" against the rest, ranking by -score (ties count half)."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):  # average ranks over ties, lowest score = highest rank
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = len(scores) - (i + j) / 2
        i = j + 1
    neg = [r for g, r in zip(gold, ranks, strict=True) if g == "negative"]
    n_pos = len(scores) - len(neg)
    if not neg or not n_pos:
        return float("nan")
    return (sum(neg) - len(neg) * (len(neg) + 1) / 2) / (len(neg) * n_pos)
