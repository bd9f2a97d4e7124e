"""Our own implementation of the NAB scorer (Numenta Anomaly Benchmark v1.1 rules).

Rules (standard profile: TP weight 1.0, FN weight 1.0, FP weight 0.11):
- the first min(floor(0.15 * rows), 750) rows of a file are probationary and not scored;
- a window scores the credit of its earliest detection: with the window's rows at
  positions -(right - i + 1) / width, the credit is sigma(x) / sigma(-1) with
  sigma(x) = 2 / (1 + e^(5x)) - 1, so the first row earns 1.0; a missed window costs the FN
  weight;
- a detection outside every window costs FP weight x sigma(d / (width_prev - 1)) where d is the
  distance in rows to the end of the previous window (nearly 0 just after a window, the full
  weight 3 window-widths later), or the full FP weight before the first window;
- the corpus score is normalised so the null detector scores 0 and the perfect one 100.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

STANDARD = {"tp": 1.0, "fn": 1.0, "fp": 0.11}


def sigma(x: float) -> float:
    """NAB's scaled sigmoid: +0.987 at x = -1 (window start), 0 at the window end."""
    if x >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


def probation_rows(rows: int) -> int:
    return min(math.floor(0.15 * rows), 750)


@dataclass
class FileScore:
    raw: float  # this file's raw score at the threshold
    null: float  # the null detector's raw score (every window missed)
    perfect: float  # a detector that fires on every window's first row
    windows: int
    windows_hit: int
    false_positives: int  # detections outside windows (after probation)
    scored_rows: int


def row_weights(rows: int, windows: Sequence[tuple[int, int]],
                profile: dict[str, float] = STANDARD) -> tuple[list[float], list[int | None]]:
    """Per-row credit if detected, and the window index of each row (None outside)."""
    weights: list[float] = [0.0] * rows
    owner: list[int | None] = [None] * rows
    max_tp = sigma(-1.0)
    prev_right, prev_width = None, None
    spans = sorted(windows)
    w = 0
    i = 0
    while i < rows:
        if w < len(spans) and i == spans[w][0]:
            left, right = spans[w]
            width = right - left + 1
            for j in range(left, right + 1):
                weights[j] = profile["tp"] * sigma(-(right - j + 1) / width) / max_tp
                owner[j] = w
            prev_right, prev_width = right, width
            w += 1
            i = right + 1
            continue
        if prev_right is None:
            weights[i] = -profile["fp"]
        else:
            weights[i] = profile["fp"] * sigma(abs(prev_right - i) / (prev_width - 1))
        i += 1
    return weights, owner


def score_file(detections: Sequence[bool], windows: Sequence[tuple[int, int]],
               profile: dict[str, float] = STANDARD) -> FileScore:
    """Score one file; ``windows`` are inclusive (first_row, last_row) index pairs."""
    rows = len(detections)
    start = probation_rows(rows)
    weights, owner = row_weights(rows, windows, profile)
    scored_windows = {k for k, (left, _) in enumerate(sorted(windows)) if left >= start}
    best: dict[int, float] = {}
    fp_total, fp_count = 0.0, 0
    for i in range(start, rows):
        if not detections[i]:
            continue
        k = owner[i]
        if k is None:
            fp_total += weights[i]
            fp_count += 1
        elif k in scored_windows:
            best[k] = max(best.get(k, -math.inf), weights[i])
    raw = fp_total + sum(best.get(k, -profile["fn"]) for k in scored_windows)
    return FileScore(raw=raw, null=-profile["fn"] * len(scored_windows),
                     perfect=profile["tp"] * len(scored_windows), windows=len(scored_windows),
                     windows_hit=len(best), false_positives=fp_count, scored_rows=rows - start)


def normalised(scores: Sequence[FileScore]) -> float:
    """Corpus score: 0 for the null detector, 100 for the perfect one."""
    raw = sum(s.raw for s in scores)
    null = sum(s.null for s in scores)
    perfect = sum(s.perfect for s in scores)
    return 100.0 * (raw - null) / (perfect - null)


def windows_to_rows(timestamps: Sequence[str], windows: Sequence[tuple[str, str]]
                    ) -> list[tuple[int, int]]:
    """Map (start, end) timestamps (``YYYY-MM-DD HH:MM:SS[.ffffff]``) to row indices."""
    index = {t[:19]: i for i, t in enumerate(timestamps)}
    return [(index[a[:19]], index[b[:19]]) for a, b in windows]
