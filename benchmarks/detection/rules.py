"""Published alerting rules, re-implemented from their documentation for side-by-side runs.

Each takes buckets ``[(bucket_at, n, y), ...]`` and returns the indices of buckets after which
an alert would be sent. They see only past and current buckets (causal), like ours.

- Huginn PeakDetectorAgent (docs): the newest value is a peak when it exceeds the mean plus
  ``std_multiple`` (3) standard deviations of the values in the trailing
  ``window_duration_in_days`` (14), not counting the newest, with at least
  ``min_points`` (4) values, and no peak in the last ``min_peak_spacing_in_days`` (2).
- ElastAlert ``spike`` rule (docs' example rule): count in the current ``timeframe`` (2 h)
  >= ``spike_height`` (3) x count in the preceding timeframe, with the current count at
  least ``threshold_cur`` (5) and a non-empty reference (``alert_on_new_data: false``);
  after a hit both windows are cleared.
- Socialmetrix / Meltwater-style: negatives in the trailing 24 h against the 7 preceding
  24 h windows: alert above mean + ``sigmas`` (2) standard deviations and at least
  ``min_rise`` (1.5) x the mean, then a 24 h cool-down. (Our reading of the product
  documentation; their code is not public.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Bucket = tuple[str, int, int]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


def huginn_peaks(rows: Sequence[Bucket], bucket_hours: float = 1.0, std_multiple: float = 3.0,
                 window_days: float = 14.0, spacing_days: float = 2.0,
                 min_points: int = 4) -> list[int]:
    window = int(window_days * 24 / bucket_hours)
    spacing = int(spacing_days * 24 / bucket_hours)
    alerts: list[int] = []
    ys = [y for _, _, y in rows]
    # Running sums over the trailing window keep this O(1) per bucket.
    s = s2 = 0.0
    for i, y in enumerate(ys):
        if i - 1 >= 0:
            s += ys[i - 1]
            s2 += ys[i - 1] ** 2
        if i - 1 - window >= 0:
            s -= ys[i - 1 - window]
            s2 -= ys[i - 1 - window] ** 2
        k = min(i, window)
        if k < min_points:
            continue
        mean = s / k
        std = math.sqrt(max(s2 / k - mean * mean, 0.0))
        if y > mean + std_multiple * std and (not alerts or i - alerts[-1] > spacing):
            alerts.append(i)
    return alerts


def elastalert_spike(rows: Sequence[Bucket], bucket_hours: float = 1.0,
                     timeframe_hours: float = 2.0, spike_height: float = 3.0,
                     threshold_cur: int = 5, threshold_ref: int = 0) -> list[int]:
    width = max(1, round(timeframe_hours / bucket_hours))
    ys = [y for _, _, y in rows]
    alerts: list[int] = []
    cleared = 0  # buckets before this index were cleared by the last hit
    for i in range(len(ys)):
        if i + 1 - 2 * width < cleared:
            continue
        cur = sum(ys[i + 1 - width:i + 1])
        ref = sum(ys[i + 1 - 2 * width:i + 1 - width])
        if ref > 0 and ref >= threshold_ref and cur >= threshold_cur and cur >= spike_height * ref:
            alerts.append(i)
            cleared = i + 1
    return alerts


def socialmetrix_daily(rows: Sequence[Bucket], bucket_hours: float = 1.0, sigmas: float = 2.0,
                       min_rise: float = 1.5, baseline_days: int = 7,
                       cooldown_hours: float = 24.0) -> list[int]:
    day = round(24 / bucket_hours)
    cooldown = round(cooldown_hours / bucket_hours)
    ys = [y for _, _, y in rows]
    prefix = [0]
    for y in ys:
        prefix.append(prefix[-1] + y)
    alerts: list[int] = []
    for i in range(day * (baseline_days + 1) - 1, len(ys)):
        cur = prefix[i + 1] - prefix[i + 1 - day]
        past = [prefix[i + 1 - d * day] - prefix[i + 1 - (d + 1) * day]
                for d in range(1, baseline_days + 1)]
        mean, std = _mean_std(past)
        if alerts and i - alerts[-1] < cooldown:
            continue
        if cur > mean + sigmas * std and cur >= min_rise * mean and cur > 0:
            alerts.append(i)
    return alerts
