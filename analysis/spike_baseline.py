"""Seasonal baseline of mention volume: level x day-of-week x hour-of-day. Pure, O(1) state.

    base = new_baseline()
    mu = expected(base, hour, dow)            # expected count for that slot
    learn(base, hour, dow, count, rates)      # one closed bucket, already clipped by the caller

The state is a plain JSON-able dict (about 70 numbers). Factors are EWMAs per slot kept at
mean 1 and shrunk toward 1 while a slot has seen few buckets, so a brand-new series does not
trust one noisy Tuesday.
"""

from __future__ import annotations

from typing import Any

SHRINK_BUCKETS = 3.0  # a slot's factor counts as much as this many buckets of "no pattern"


def new_baseline() -> dict[str, Any]:
    return {
        "level": 0.0,
        "seen": 0,  # buckets learnt from
        "hour": [1.0] * 24,
        "hour_seen": [0] * 24,
        "dow": [1.0] * 7,
        "dow_seen": [0] * 7,
    }


def _factor(value: float, seen: int) -> float:
    return (seen * value + SHRINK_BUCKETS) / (seen + SHRINK_BUCKETS)


def expected(base: dict[str, Any], hour: int, dow: int) -> float:
    """Expected count for a bucket in this hour of day and day of week."""
    return (base["level"] * _factor(base["dow"][dow], base["dow_seen"][dow])
            * _factor(base["hour"][hour], base["hour_seen"][hour]))


def alpha_for(half_life: float) -> float:
    """EWMA weight of a new observation for a half-life counted in observations."""
    return 1.0 - 0.5 ** (1.0 / max(half_life, 1e-9))


def learn(base: dict[str, Any], hour: int, dow: int, count: float, rates: dict[str, float]) -> None:
    """Fold one bucket into the baseline.

    ``rates`` holds EWMA weights: ``level`` per bucket, ``hour`` per visit of an hour slot
    (once a day), ``dow`` per bucket within a weekday slot.
    """
    seen = base["seen"]
    # Early on the EWMA is a plain running mean, so the first bucket does not dominate a week.
    a_level = max(rates["level"], 1.0 / (seen + 1))
    d = _factor(base["dow"][dow], base["dow_seen"][dow])
    h = _factor(base["hour"][hour], base["hour_seen"][hour])
    deseason = count / (d * h)
    base["level"] += a_level * (deseason - base["level"])
    base["seen"] = seen + 1
    level = base["level"]
    if level <= 1e-9:
        return  # nothing to learn a shape from yet (an empty brand)
    a_hour = max(rates["hour"], 1.0 / (base["hour_seen"][hour] + 1))
    a_dow = max(rates["dow"], 1.0 / (base["dow_seen"][dow] + 1))
    base["hour"][hour] += a_hour * (count / (level * d) - base["hour"][hour])
    base["dow"][dow] += a_dow * (count / (level * h) - base["dow"][dow])
    base["hour_seen"][hour] += 1
    base["dow_seen"][dow] += 1
    _renormalise(base["hour"])
    _renormalise(base["dow"])


def _renormalise(factors: list[float]) -> None:
    # Keep the factors at mean 1 so the level alone carries the volume.
    mean = sum(factors) / len(factors)
    if mean > 1e-9:
        for i, f in enumerate(factors):
            factors[i] = f / mean
