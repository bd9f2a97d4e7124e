"""Small pure-Python statistics the spike detector needs (no SciPy at run time)."""

from __future__ import annotations

import math


def poisson_upper_tail(k: float, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu); k may be fractional (quasi-Poisson scaled counts).

    Uses P(X >= k) = P(k, mu), the regularised lower incomplete gamma function, which is
    continuous in k and exact at integers.
    """
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    return _gamma_p(k, mu)


def _gamma_p(a: float, x: float) -> float:
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        # Series expansion converges fast below the mode.
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-14:
                break
        return min(1.0, math.exp(log_front) * total)
    return max(0.0, 1.0 - _gamma_q_cf(a, x, log_front))


def _gamma_q_cf(a: float, x: float, log_front: float) -> float:
    # Lentz's continued fraction for the upper tail Q(a, x), valid for x >= a + 1.
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return math.exp(log_front) * h
