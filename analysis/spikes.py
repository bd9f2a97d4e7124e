"""Negative-spike detection: causal, incremental, O(1) state per series. Pure.

The state is a small dataclass (``State``) that the pipeline persists as JSON between cron
runs (``State.to_json`` / ``State.from_json``, which also migrates older versions).

    state = new_state(params)
    events = step(state, bucket_at, n, y, params)   # mutates state, returns events

Each event is a dict: {"type": "open" | "escalate" | "close", "at": bucket_at,
"rule": ..., "params": {...}, "numbers": {"count", "total", "expected", "share",
"baseline_share", "statistic", "threshold", ...}, "summary": "words for a support lead"}.

How it decides (design: ``/work/shared/design/detection.md``):
- a seasonal baseline of all mentions (level x weekday x hour, ``spike_baseline``) and a
  smoothed negative share p0 give the expected negatives ``mu = p0 * max(expected, n)``;
  taking the larger of the seasonal expectation and the bucket's actual volume means a
  surge of ordinary chatter (negatives following volume) is not a negative storm;
- three tests, any of which may open an episode: a Poisson CUSUM on negatives designed
  for a ``rho``-fold rise, a binomial CUSUM on the negative share (p0 -> p1), and a
  one-bucket tail test so a sudden storm fires in its first bucket. Counts are scaled by
  a running negative-binomial over-dispersion estimate, var = mu (1 + c mu)
  (quasi-likelihood), so bursty and busy brands are not noisy;
- thresholds come from the false-alarm budget (``calibration``);
- a practical-size gate: at least ``min_excess`` negatives above expectation;
- episodes: one "open" email; "escalate" only when a statistic passes twice its threshold,
  the burst rate (excess negatives per bucket) since the last email is at least twice the
  one it reported, and ``escalate_after_hours`` have passed since that email; "close" after
  ``close_after_hours`` of calm hours (negatives within normal variation of expectation
  and no build-up of share evidence); the statistics restart at 0 after every email and
  are capped at the escalation level while an episode is open;
- the baseline learns only outside episodes and from clipped counts, so a storm does not
  teach the detector that storms are normal.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

from analysis import calibration
from analysis.spike_baseline import alpha_for, expected, learn, new_baseline
from analysis.spike_stats import poisson_upper_tail

STATE_VERSION = 2

DEFAULTS: dict[str, Any] = {
    # Sensitivity: false alerts per series per 30 days; thresholds follow (calibration.py).
    "false_alarms_per_month": 1.0,
    # Bucket length in hours (1 in the app; 5/60 on the NAB benchmark).
    "bucket_hours": 1.0,
    # No alerts while the baseline is young (days of data).
    "warmup_days": 7.0,
    # Half-life of the volume level, in days.
    "level_half_life_days": 7.0,
    # Half-life of the hour-of-day and day-of-week factors, in days.
    "season_half_life_days": 28.0,
    # Half-life of the baseline negative share p0, in days.
    "share_half_life_days": 14.0,
    # Prior pseudo-counts for p0 = (neg + a) / (all + a + b): a prior share of 1/6.
    "share_prior_neg": 1.0,
    "share_prior_other": 5.0,
    # Negative-volume CUSUM is tuned to catch this fold rise in negatives.
    "rho": 3.0,
    # Share CUSUM target: p1 = min(0.95, max(share_fold * p0, p0 + share_lift)).
    "share_fold": 2.5,
    "share_lift": 0.2,
    # Expected negatives follow the bucket's actual volume when it is above the seasonal
    # expectation (off on NAB, where only one count per bucket exists).
    "negatives_follow_volume": True,
    # Round 4 fix (kept switchable for what-if runs): the baseline share learns a clipped busy
    # hour at that hour's own share (see _learn).
    "share_keeps_clipped_share": True,
    "share_test": True,
    "burst_test": True,
    # Practical-size gate: negatives above expectation since the evidence started.
    "min_excess": 3.0,
    # Close an episode after this many calm hours in a row.
    "close_after_hours": 12.0,
    # Escalate (another email) when, since the last email, a statistic has passed this
    # multiple of its threshold and the excess negatives reached this multiple of the
    # excess the last email reported.
    "escalate_factor": 2.0,
    # ... and at least this many hours have passed since the last email.
    "escalate_after_hours": 6.0,
    # Extra nats on the volume and share CUSUM thresholds and factor on the one-bucket tail
    # level; None means the values fitted by replay in calibration.py.
    "cusum_offset": None,
    "share_offset": None,
    "tail_factor": None,
    # Per-series calibration (calibration.py): thresholds from the series' own daily maxima
    # of each statistic, never below the analytic ones; off = analytic thresholds only.
    "calibrate": True,
    # Pooled prior while a series is young: nats above the analytic threshold for the volume
    # CUSUM, the share CUSUM and -ln p of the burst test.
    "calibration_prior": (0.0, 0.0, 0.0),
    # ... weighing as much as this many days of the series' own maxima.
    "calibration_prior_days": calibration.PRIOR_DAYS,
    # Which part of the daily maxima sets the thresholds (calibration.fit_maxima): "middle"
    # for negatives among all mentions, "upper" for bare counts.
    "calibration_tail": "middle",
}


def _params(params: dict[str, Any] | None) -> dict[str, Any]:
    return {**DEFAULTS, **(params or {})}


@dataclass
class State:
    """What a series' detector carries from one bucket to the next: a few dozen numbers and
    the calibration's daily maxima. Stored as JSON (``to_json`` / ``from_json``)."""

    t: int = 0  # buckets seen
    base: dict[str, Any] = field(default_factory=new_baseline)  # seasonal baseline, all mentions
    neg: float = 0.0  # decayed sums for the baseline negative share
    all: float = 0.0
    # Negative-binomial over-dispersion of negatives, var = mu * (1 + c * mu), with
    # c = disp_num / disp_den (decayed sums of (y - mu)^2 - mu and mu^2).
    disp_num: float = 0.0
    disp_den: float = 0.0
    phi_share: float = 1.0  # over-dispersion of negatives vs the binomial model
    s_volume: float = 0.0  # CUSUM statistics
    s_share: float = 0.0
    run_count: float = 0.0  # negatives / expected since the statistics last left 0
    run_expected: float = 0.0
    run_buckets: int = 0  # buckets in that run (for the burst rate)
    expected: float | None = None  # expected negatives of the last bucket (shown by the pipeline)
    episode: dict[str, Any] | None = None
    cal: dict[str, Any] = field(default_factory=lambda: new_calibration())
    version: int = STATE_VERSION

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> State:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> State:
        """A state as stored by this or an older version (migrated: version 1 had no
        calibration and an unused ``phi_volume``)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if data.get("version", 1) < 2 or "cal" not in data:
            cal = new_calibration()
            cal["day"] = data.get("t", 0) // 24  # its own fit starts with the next whole day
            known["cal"] = cal
        known["version"] = STATE_VERSION
        return cls(**known)


def new_state(params: dict[str, Any] | None = None) -> State:
    """A fresh detector state."""
    return State()


STATISTICS = ("cusum", "share", "tail")  # volume CUSUM, share CUSUM, -ln p of the burst test


def new_calibration() -> dict[str, Any]:
    """Daily maxima of each test statistic over the series' recent past (``calibration``)."""
    return {"day": 0, "current": [0.0, 0.0, 0.0], "seen": 0, "censored": [False] * 3,
            "maxima": [[], [], []], "fit": [None, None, None]}


def floors(params: dict[str, Any] | None = None) -> dict[str, float]:
    """Analytic thresholds implied by the false-alarm budget (Poisson / binomial noise)."""
    p = _params(params)
    offset = calibration.CUSUM_OFFSET if p["cusum_offset"] is None else p["cusum_offset"]
    share = calibration.SHARE_OFFSET if p["share_offset"] is None else p["share_offset"]
    factor = calibration.TAIL_FACTOR if p["tail_factor"] is None else p["tail_factor"]
    return {
        "cusum": calibration.cusum_threshold(p["false_alarms_per_month"], p["bucket_hours"],
                                             offset),
        "share": calibration.cusum_threshold(p["false_alarms_per_month"], p["bucket_hours"],
                                             share),
        "tail": calibration.tail_level(p["false_alarms_per_month"], p["bucket_hours"], factor),
    }


def thresholds(params: dict[str, Any] | None = None,
               state: State | None = None) -> dict[str, float]:
    """Decision thresholds for the budget: the analytic ones (a floor), raised to where the
    series' own past statistics would have passed about budget-many times when a state is
    given."""
    p = _params(params)
    return _limits(state, p) if state is not None else floors(p)


# Parameters the thresholds depend on: the cached ones are refitted when any changes.
_LIMIT_KEYS = ("false_alarms_per_month", "bucket_hours", "cusum_offset", "share_offset",
               "tail_factor", "share_test", "burst_test", "calibrate", "calibration_prior",
               "calibration_prior_days")


def _limits(state: State, p: dict[str, Any]) -> dict[str, float]:
    # Cached in the state until the next day's refit (or other settings): a few logs per
    # bucket were a third of the detector's cost.
    cal = state.cal
    key = [list(v) if isinstance(v, tuple) else v for v in (p[k] for k in _LIMIT_KEYS)]
    if cal.get("limits") and cal.get("key") == key:
        return cal["limits"]
    floor = floors(p)
    out = dict(floor)
    if p["calibrate"]:
        tests = 1 + bool(p["share_test"]) + bool(p["burst_test"])
        rate = calibration.daily_rate(p["false_alarms_per_month"], tests)
        floor_stats = (floor["cusum"], floor["share"], -math.log(floor["tail"]))
        for i, name in enumerate(STATISTICS):
            fit = cal["fit"][i]
            own = calibration.level(fit, rate) if fit else None
            out[name] = calibration.blend(floor_stats[i],
                                          floor_stats[i] + p["calibration_prior"][i], own,
                                          len(cal["maxima"][i]), p["calibration_prior_days"])
        out["tail"] = math.exp(-out["tail"])
    out["days"] = len(cal["maxima"][0])
    cal["limits"], cal["key"] = out, key
    return out


def _record(state: State, p: dict[str, Any], tail_p: float, warm: bool) -> None:
    """Fold this bucket's statistics into today's maxima; at a new day, refit thresholds.

    Days are counted in buckets since the series started, never by the clock.
    """
    cal = state.cal
    day = state.t // max(1, round(24.0 / p["bucket_hours"]))
    if day != cal["day"]:
        # A day counts when at least half of it was observed outside episodes. Fitting the
        # top ("upper"), a day that opened one counts too, else every alerting day would drop
        # out and the fit would learn only the quiet ones; fitting the middle, it does not:
        # those are the storm days the middle must not see.
        alerted = p["calibration_tail"] == "upper" and any(cal.get("censored", ()))
        if cal["seen"] * 2 >= max(1, round(24.0 / p["bucket_hours"])) or alerted:
            for i, value in enumerate(cal["current"]):
                # A day whose statistic opened an episode only says "at least this much"
                # (the evidence restarts at 0 and the episode's buckets are left out): it is
                # kept negative, a censored value (calibration.fit_maxima).
                censored = cal.get("censored", [False] * 3)[i] and value > 0
                cal["maxima"][i].append(-round(value, 2) if censored else round(value, 2))
                del cal["maxima"][i][:-calibration.HISTORY_DAYS]
        cal["day"], cal["current"], cal["seen"] = day, [0.0, 0.0, 0.0], 0
        cal["censored"] = [False, False, False]
        cal["fit"] = [calibration.fit_maxima(m, p["calibration_tail"]) for m in cal["maxima"]]
        cal["limits"] = None
    # Buckets inside an open episode say nothing of the noise (and their statistics are
    # capped); the bucket that opens one does: it is the top of that day's statistics.
    if not warm or state.episode is not None:
        return
    cal["seen"] += 1
    values = (state.s_volume, state.s_share, min(50.0, -math.log(max(tail_p, 1e-300))))
    cal["current"] = [max(a, b) for a, b in zip(cal["current"], values, strict=True)]


class _Expectation:
    """What this bucket should hold, from state learnt on earlier buckets only (causal)."""

    __slots__ = ("mu_all", "p0", "mu", "p1", "phi_v", "phi_s")

    def __init__(self, state: State, p: dict[str, Any], hour: int, dow: int,
                 n: int) -> None:
        self.mu_all = expected(state.base, hour, dow)
        self.p0 = (state.neg + p["share_prior_neg"]) / (
            state.all + p["share_prior_neg"] + p["share_prior_other"])
        volume = max(self.mu_all, float(n)) if p["negatives_follow_volume"] else self.mu_all
        self.mu = self.p0 * volume
        self.p1 = min(0.95, max(p["share_fold"] * self.p0, self.p0 + p["share_lift"]))
        self.phi_v, self.phi_s = _phi_volume(state, self.mu), state.phi_share

    def share_llr(self, n: int, y: int) -> float:
        """Log-likelihood ratio of the bucket's share for p1 against p0 (0 if empty)."""
        if n <= 0 or self.p1 <= self.p0 + 1e-6:
            return 0.0
        return (y * math.log(self.p1 / self.p0)
                + (n - y) * math.log((1 - self.p1) / (1 - self.p0))) / self.phi_s


def _test(state: State, p: dict[str, Any], e: _Expectation, n: int, y: int,
          limits: dict[str, float]) -> tuple[list[str], float]:
    """Update the statistics with the bucket; return the tests that fired and the burst p."""
    rho = p["rho"]
    state.s_volume = max(0.0, state.s_volume
                            + (y * math.log(rho) - (rho - 1.0) * e.mu) / e.phi_v)
    if p["share_test"]:
        state.s_share = max(0.0, state.s_share + e.share_llr(n, y))
    tail_p = 1.0
    if p["burst_test"] and y > e.mu:
        tail_p = poisson_upper_tail(y / e.phi_v, max(e.mu, 1e-3) / e.phi_v)
    if state.s_volume > 0 or state.s_share > 0 or tail_p < limits["tail"]:
        state.run_count += y
        state.run_expected += e.mu
        state.run_buckets = state.run_buckets + 1
    else:
        state.run_count = state.run_expected = 0.0
        state.run_buckets = 0
    fired = []
    if state.s_volume > limits["cusum"]:
        fired.append("negative-volume")
    if state.s_share > limits["share"]:
        fired.append("negative-share")
    if tail_p < limits["tail"]:
        fired.append("negative-burst")
    return fired, tail_p


def step(state: State, bucket_at: str, n: int, y: int,
         params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Feed one closed bucket (n mentions, y of them negative); return alert events."""
    p = _params(params)
    n, y = max(int(n), 0), max(min(int(y), int(n)), 0)
    hour, dow = _slot(bucket_at)
    warm = state.t >= p["warmup_days"] * 24.0 / p["bucket_hours"]
    e = _Expectation(state, p, hour, dow, n)
    limits = _limits(state, p)
    fired, tail_p = _test(state, p, e, n, y, limits) if warm else ([], 1.0)
    _record(state, p, tail_p, warm)
    numbers = _numbers(state, e, n, y, tail_p, limits)
    if state.episode is None:
        events = _maybe_open(state, p, bucket_at, fired, limits, numbers)
        if events:
            state.cal["censored"] = [a or b for a, b in zip(
                state.cal.get("censored", [False] * 3),
                ("negative-volume" in fired, "negative-share" in fired,
                 "negative-burst" in fired), strict=True)]
    else:
        events = _follow_episode(state, p, e, bucket_at, n, y, fired, limits, numbers)
    if state.episode is None and not events:
        _learn(state, p, hour, dow, n, y, e.mu_all, e.mu, e.p0, warm)
    state.expected = round(e.mu, 6)
    state.t += 1
    return events


def _excess(state: State) -> float:
    return state.run_count - state.run_expected


def _numbers(state: State, e: _Expectation, n: int, y: int, tail_p: float,
             limits: dict[str, float]) -> dict[str, Any]:
    return {
        "count": y,
        "total": n,
        "expected": round(e.mu, 3),
        "share": round(y / n, 3) if n else None,
        "baseline_share": round(e.p0, 3),
        "statistic": round(max(state.s_volume, state.s_share), 3),
        "threshold": round(limits["cusum"], 3),
        "share_threshold": round(limits["share"], 3),
        "volume_statistic": round(state.s_volume, 3),
        "share_statistic": round(state.s_share, 3),
        "burst_p_value": tail_p,
        "burst_level": limits["tail"],
        "run_negatives": state.run_count,
        "run_expected": round(state.run_expected, 3),
        "expected_total": round(e.mu_all, 3),
        "calibrated_days": limits.get("days", 0),
    }


def _maybe_open(state: State, p: dict[str, Any], bucket_at: str, fired: list[str],
                limits: dict[str, float], numbers: dict[str, Any]) -> list[dict[str, Any]]:
    """Open an episode when a test fired and the practical-size gate passes."""
    excess = _excess(state)
    if not fired or excess < p["min_excess"]:
        return []
    state.episode = {"opened_at": bucket_at, "negatives": state.run_count,
                        "expected": state.run_expected,
                        "at_last_email": state.run_count, "quiet": 0,
                        "excess_at_email": excess,
                        "rate_at_email": excess / max(state.run_buckets, 1),
                        "buckets_since_email": 0}
    _reset(state)
    return [_event("open", bucket_at, fired, p, limits, numbers)]


def _follow_episode(state: State, p: dict[str, Any], e: _Expectation, bucket_at: str,
                    n: int, y: int, fired: list[str], limits: dict[str, float],
                    numbers: dict[str, Any]) -> list[dict[str, Any]]:
    """An open episode: escalate (another email) or close after enough calm hours."""
    episode = state.episode
    events: list[dict[str, Any]] = []
    episode["negatives"] += y
    episode["expected"] += e.mu
    excess = _excess(state)
    strong = (state.s_volume > p["escalate_factor"] * limits["cusum"]
              or state.s_share > p["escalate_factor"] * limits["share"])
    # "Doubled" compares burst *rates*, not totals: excess negatives per bucket in the run
    # since the last email against the rate that email reported. Cumulative excess always
    # doubles in a steady storm (after as long as it took to open), which mailed "still
    # rising" about storms that were not rising; totals grew with ordinary traffic too.
    reported = episode.get("excess_at_email", episode["at_last_email"])
    rate = excess / max(state.run_buckets, 1)
    doubled = (rate >= p["escalate_factor"] * episode.get("rate_at_email", reported)
               and excess - reported >= p["min_excess"])
    # A second email within hours of the first adds little and feeds alert fatigue.
    since = episode.get("buckets_since_email", 0) + 1
    episode["buckets_since_email"] = since
    spaced = since * p["bucket_hours"] >= p["escalate_after_hours"]
    if fired and excess >= p["min_excess"] and strong and doubled and spaced:
        numbers["episode_negatives"] = episode["negatives"]
        events.append(_event("escalate", bucket_at, fired, p, limits, numbers))
        episode["at_last_email"] = episode["negatives"]
        episode["excess_at_email"] = excess
        episode["rate_at_email"] = rate
        episode["buckets_since_email"] = 0
        _reset(state)
    # Past the escalation level more evidence changes nothing, and an uncapped CUSUM built
    # up over a long storm takes days of slow drift to come back down: cap it.
    state.s_volume = min(state.s_volume, p["escalate_factor"] * limits["cusum"])
    state.s_share = min(state.s_share, p["escalate_factor"] * limits["share"])
    # "Calm" is a bucket whose negatives are within normal variation of expectation.
    # The CUSUMs cannot say it: at weekend volume they fall by a fraction of a unit an
    # hour, so "statistic back at 0" kept finished episodes open for days.
    # A slowly rising share is not calm either: a small CUSUM of the share evidence over
    # the quiet window (capped, so ordinary hours bring it back within a few hours).
    episode["quiet_llr"] = min(max(0.0, episode.get("quiet_llr", 0.0) + e.share_llr(n, y)),
                               limits["share"] / 2)
    calm = (y <= e.mu + 2.0 * math.sqrt(e.mu) + 1.0
            and episode["quiet_llr"] < limits["share"] / 4)
    episode["quiet"] = episode["quiet"] + 1 if calm else 0
    if episode["quiet"] >= p["close_after_hours"] / p["bucket_hours"]:
        numbers["episode_negatives"] = episode["negatives"]
        events.append({"type": "close", "at": bucket_at, "rule": "episode",
                       "params": _public_params(p, limits), "numbers": numbers,
                       "summary": _close_summary(episode, p)})
        state.episode = None
        _reset(state)
    return events


def _slot(bucket_at: str) -> tuple[int, int]:
    moment = dt.datetime.fromisoformat(bucket_at.replace("Z", "+00:00"))
    return moment.hour, moment.weekday()


def _rates(p: dict[str, Any]) -> dict[str, float]:
    per_day = 24.0 / p["bucket_hours"]
    return {
        "level": alpha_for(p["level_half_life_days"] * per_day),
        "hour": alpha_for(p["season_half_life_days"] * max(1.0, 1.0 / p["bucket_hours"])),
        "dow": alpha_for(p["season_half_life_days"] / 7.0 * per_day),
    }


def _phi_volume(state: State, mu: float) -> float:
    """Variance / mean of the negatives at expectation mu (negative-binomial: 1 + c * mu).

    Mention counts vary by a roughly constant *fraction* (news cycles, retweet cascades), so
    a constant quasi-Poisson factor is too small at the busy hours and too large at the
    quiet ones; with var = mu (1 + c mu) a brand with 1,000 mentions an hour needs a
    proportionally larger rise than one with 3.
    """
    den = state.disp_den
    c = max(0.0, state.disp_num / den) if den > 1e-9 else 0.0
    return 1.0 + c * mu


def _reset(state: State) -> None:
    # Restart the evidence after every email: the next email needs fresh evidence.
    state.s_volume = state.s_share = 0.0
    state.run_count = state.run_expected = 0.0
    state.run_buckets = 0


def _learn(state: State, p: dict[str, Any], hour: int, dow: int, n: int, y: int,
           mu_all: float, mu: float, p0: float, warm: bool) -> None:
    if warm:
        # Clip outliers so one odd hour moves the baseline only a little.
        n_in = min(float(n), mu_all + 3.0 * math.sqrt(_phi_volume(state, mu_all) * mu_all) + 1.0)
        y_in = min(float(y), mu + 3.0 * math.sqrt(_phi_volume(state, mu) * mu) + 1.0, n_in)
        y_p0 = y_in
        if p["share_keeps_clipped_share"] and n > n_in:
            # p0 learns the share of the bucket itself: clipping n alone (while y's cap follows
            # the bucket's volume) gave busy hours a share they never had, so p0 read ~9 % high
            # on bursty real volume (CRM, CVS), which blunted both negative tests.
            y_p0 = min(y * n_in / n, y_in)
    else:
        n_in, y_in = float(n), float(y)
        y_p0 = y_in
    learn(state.base, hour, dow, n_in, _rates(p))
    per_day = 24.0 / p["bucket_hours"]
    keep = 1.0 - alpha_for(p["share_half_life_days"] * per_day)
    state.neg = state.neg * keep + y_p0
    state.all = state.all * keep + n_in
    if state.t > per_day:  # over-dispersion only once the expectations mean something
        a = alpha_for(p["share_half_life_days"] * per_day)
        # Moment estimate of c, weighted by mu^2: busy buckets say most about it.
        keep_d = 1.0 - a
        state.disp_num = state.disp_num * keep_d + (y_in - mu) ** 2 - mu
        state.disp_den = state.disp_den * keep_d + mu * mu
        if n > 0:
            # The bucket's own (n, y), not the clipped pair: clipping n and y separately
            # gives a share the bucket never had, which inflated phi_share by 30-40 % on
            # exactly binomial negatives (real volume, NAB CRM) and blunted the share test.
            # One odd bucket is capped at 3 sd instead.
            var = max(n * p0 * (1 - p0), 1.0)
            resid_s = min((y - n * p0) ** 2 / var, 9.0)
            state.phi_share = max(1.0, state.phi_share + a * (resid_s - state.phi_share))


def _public_params(p: dict[str, Any], limits: dict[str, float]) -> dict[str, Any]:
    return {"false_alarms_per_month": p["false_alarms_per_month"], "rho": p["rho"],
            "bucket_hours": p["bucket_hours"], "min_excess": p["min_excess"],
            "cusum_threshold": round(limits["cusum"], 3), "burst_level": limits["tail"]}


def _event(kind: str, at: str, fired: list[str], p: dict[str, Any],
           limits: dict[str, float], numbers: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "at": at, "rule": "+".join(fired),
            "params": _public_params(p, limits), "numbers": numbers,
            "summary": _summary(kind, fired, numbers, p)}


def _period(p: dict[str, Any]) -> str:
    hours = p["bucket_hours"]
    if hours == 1:
        return "the last hour"
    if hours < 1:
        return f"the last {round(hours * 60)} minutes"
    return f"the last {hours:g} hours"


def _summary(kind: str, fired: list[str], numbers: dict[str, Any], p: dict[str, Any]) -> str:
    lead = "Still rising: " if kind == "escalate" else ""
    run, usual = numbers["run_negatives"], numbers["run_expected"]
    if fired == ["negative-share"] and numbers["share"] is not None:
        text = (f"{numbers['share']:.0%} of the {numbers['total']} mentions in {_period(p)} "
                f"were negative, where about {numbers['baseline_share']:.0%} is usual.")
    else:
        ratio = numbers["count"] / numbers["expected"] if numbers["expected"] else float("inf")
        times = f" ({ratio:.0f}x)" if math.isfinite(ratio) else ""
        text = (f"{numbers['count']} negative mentions in {_period(p)} where about "
                f"{numbers['expected']:.1f} are usual{times}.")
    if run > numbers["count"]:
        text += f" {run:.0f} negative since it started, against about {usual:.1f} usual."
    if "episode_negatives" in numbers:
        text += f" {numbers['episode_negatives']:.0f} negative mentions in this episode so far."
    return lead + text


def _close_summary(episode: dict[str, Any], p: dict[str, Any]) -> str:
    return (f"Back to usual levels for {p['close_after_hours']:g} hours. The episode that "
            f"opened at {episode['opened_at']} had {episode['negatives']:.0f} negative "
            f"mentions where about {episode['expected']:.0f} were usual.")
