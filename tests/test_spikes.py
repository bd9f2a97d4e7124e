"""Negative-spike detector: the cases a support lead would check, plus the NAB scorer."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import sys
from pathlib import Path

import pytest

from analysis import spikes
from analysis.spike_replay import replay, summarise

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.detection import nab_scorer  # noqa: E402

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday


def at(hour: int) -> str:
    return (START + dt.timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


def poisson(rng: random.Random, lam: float) -> int:
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def rhythm(hour: int) -> float:
    """Quiet nights, a lunchtime peak, lighter weekends."""
    moment = START + dt.timedelta(hours=hour)
    shape = 0.3 + 1.4 * math.exp(-((moment.hour - 12.5) ** 2) / 8)
    return shape * (0.6 if moment.weekday() >= 5 else 1.0)


def series(days: int = 45, base: float = 15.0, share: float = 0.15, seed: int = 1,
           storms: tuple[tuple[int, int, float], ...] = ()) -> list[tuple[str, int, int]]:
    """Hourly (bucket_at, n, y) with a daily rhythm; storms = (onset, hours, fold of negatives)."""
    rng = random.Random(seed)
    rows = []
    for h in range(days * 24):
        lam = base * rhythm(h)
        n = poisson(rng, lam)
        y = sum(rng.random() < share for _ in range(n))
        for onset, hours, fold in storms:
            if onset <= h < onset + hours:
                extra = poisson(rng, (fold - 1) * share * lam)
                n, y = n + extra, y + extra
        rows.append((at(h), n, y))
    return rows


def opens(events):
    return [e for e in events if e["type"] == "open"]


def hour_of(event) -> int:
    moment = dt.datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
    return round((moment - START).total_seconds() / 3600)


DAY = 24
ONSET = 30 * DAY + 9  # a Wednesday, 09:00


# Storm fixtures assert "exactly this many episodes in 45 days", so they run at a strict budget:
# at an honest budget of 1 a month, a 45-day series may rightly carry a random false alert.
STRICT = {"false_alarms_per_month": 0.25}
SEEDS = range(1, 21)  # 20 series x 60 days: ~35 months after warm-up, enough to see a rate


def false_alerts_per_month(budget: float) -> tuple[float, list[int]]:
    """Alerts per 30 days on storm-free rhythm series (all are false), and their hours of day."""
    hours, days = [], 0.0
    for seed in SEEDS:
        alerts = opens(replay(series(days=60, seed=seed), {"false_alarms_per_month": budget}))
        hours += [hour_of(a) % DAY for a in alerts]
        days += 60 - spikes.DEFAULTS["warmup_days"]
    return 30.0 * len(hours) / days, hours


@pytest.mark.parametrize("budget", [0.25, 1.0])
def test_ordinary_traffic_stays_within_the_false_alarm_budget(budget):
    # A budget is a rate: over many months of ordinary traffic the false alerts a month stay
    # within it (x1.5 for sampling noise over ~35 series-months). Zero alerts in one 60-day
    # series is luck, not a property, at a budget that allows some.
    rate, _ = false_alerts_per_month(budget)
    assert rate <= 1.5 * budget


def test_a_looser_budget_spends_more_of_it():
    # The rate test above cannot pass by a detector that never fires.
    strict, _ = false_alerts_per_month(0.25)
    loose, _ = false_alerts_per_month(8.0)
    assert loose > strict and loose > 0.25


def test_usual_lunchtime_peak_is_not_where_the_false_alerts_are():
    # Volume (and negatives with it) triples every lunchtime: expected, so the alerts that the
    # budget allows fall anywhere in the day, not at the peak (10:00-15:00 is 1/4 of the day;
    # a baseline without the daily rhythm would put nearly all of them there).
    _, hours = false_alerts_per_month(1.0)
    assert hours, "need some alerts for the check to mean anything"
    assert sum(10 <= h < 16 for h in hours) <= 0.5 * len(hours)


def test_clean_storm_gives_one_early_alert():
    events = replay(series(storms=((ONSET, 6, 4.0),)), STRICT)
    alerts = opens(events)
    assert len(alerts) == 1
    assert ONSET <= hour_of(alerts[0]) <= ONSET + 2
    alert = alerts[0]
    assert alert["numbers"]["count"] > alert["numbers"]["expected"]
    assert alert["numbers"]["statistic"] >= 0 and alert["summary"]
    assert any(e["type"] == "close" for e in events), "the episode closes once calm"


def test_slow_ramp_of_negative_share_is_caught_before_it_peaks():
    rows = series()
    rng = random.Random(9)
    ramp = []
    for h, (stamp, n, _) in enumerate(rows):
        share = 0.15 + max(0, min(h - ONSET, 48)) / 48 * 0.45 if h >= ONSET else 0.15
        ramp.append((stamp, n, sum(rng.random() < share for _ in range(n))))
    alerts = opens(replay(ramp, STRICT))
    assert len(alerts) == 1
    assert ONSET < hour_of(alerts[0]) < ONSET + 48


def test_two_storms_a_day_apart_are_both_caught():
    events = replay(series(storms=((ONSET, 6, 4.0), (ONSET + DAY, 6, 4.0))), STRICT)
    mails = [hour_of(e) for e in events if e["type"] in ("open", "escalate")]
    for onset in (ONSET, ONSET + DAY):
        assert any(onset <= h <= onset + 6 for h in mails), f"storm at {onset} missed: {mails}"
    # The first storm must not have been learnt as normal: the second opens its own episode.
    assert len(opens(events)) == 2


def test_steady_day_long_storm_sends_one_email_not_a_still_rising_one():
    # A storm that keeps the same size is not "still rising": its cumulative excess doubles
    # after as long as it took to open, which used to send a second email.
    events = replay(series(storms=((ONSET, 24, 4.0),)), STRICT)
    mails = [e for e in events if e["type"] in ("open", "escalate")]
    assert [e["type"] for e in mails] == ["open"]


def test_viral_positive_post_raises_no_negative_alert():
    rows = series()
    viral = [(s, n * 10 if ONSET <= h < ONSET + 4 else n, y) for h, (s, n, y) in enumerate(rows)]
    assert opens(replay(viral, STRICT)) == []


def test_usual_share_in_the_email_is_right_on_a_brand_with_odd_busy_hours():
    # "where about 15% is usual": odd hours of ordinary chatter at 6x volume (same share) must
    # not teach a higher usual share; one did (18 % instead of 15 %), blunting both tests.
    shares = []
    for seed in range(1, 6):
        rng = random.Random(seed + 100)
        rows = []
        for h, (stamp, n, y) in enumerate(series(seed=seed, storms=((ONSET, 6, 4.0),))):
            if h < ONSET and rng.random() < 0.05:
                extra = 5 * n
                n, y = n + extra, y + sum(rng.random() < 0.15 for _ in range(extra))
            rows.append((stamp, n, y))
        alerts = opens(replay(rows, STRICT))
        assert [hour_of(a) for a in alerts] and ONSET <= hour_of(alerts[0]) <= ONSET + 2
        shares.append(alerts[0]["numbers"]["baseline_share"])
    assert abs(sum(shares) / len(shares) - 0.15) <= 0.01, shares


def test_lunchtime_sized_negatives_at_night_do_alert():
    # The same count that is normal at lunchtime is a storm at 03:00: the baseline is seasonal.
    rows = series()
    night = 30 * DAY + 3
    lunch = [y for h, (_, _, y) in enumerate(rows) if h % DAY == 12 and 7 * DAY < h < night]
    typical = sorted(lunch)[len(lunch) // 2]
    patched = [(s, n + typical * 2, y + typical * 2) if night <= h < night + 2 else (s, n, y)
               for h, (s, n, y) in enumerate(rows)]
    alerts = opens(replay(patched))
    assert [hour_of(a) for a in alerts] and night <= hour_of(alerts[0]) <= night + 1


def test_empty_brand_stays_silent_and_serialisable():
    state = spikes.new_state()
    events = []
    for h in range(30 * DAY):
        events += spikes.step(state, at(h), 0, 0)
    assert events == []
    assert state.expected == 0
    assert spikes.State.from_json(state.to_json()) == state


def test_first_mentions_of_a_new_brand_need_real_volume():
    # A brand that was silent and now gets two negative mentions is not a storm (size gate).
    rows = [(at(h), 0, 0) for h in range(20 * DAY)] + [(at(20 * DAY), 2, 2)]
    assert opens(replay(rows)) == []


def test_warmup_suppresses_alerts_in_the_first_week():
    early = replay(series(storms=((2 * DAY + 9, 6, 5.0),)), STRICT)
    assert opens(early) == []
    later = replay(series(storms=((10 * DAY + 9, 6, 5.0),)), STRICT)
    assert len(opens(later)) == 1


def test_restart_from_persisted_state_equals_uninterrupted_run():
    rows = series(storms=((ONSET, 6, 4.0), (ONSET + 3 * DAY, 12, 3.0)))
    whole = replay(rows)
    state, resumed = spikes.new_state(), []
    for i, (stamp, n, y) in enumerate(rows):
        if i % 7 == 0:  # a cron run persists the state as JSON in SQLite
            state = spikes.State.from_json(state.to_json())
        resumed += spikes.step(state, stamp, n, y)
    assert resumed == whole
    assert opens(whole), "the fixture must produce events for the comparison to mean anything"


def test_smaller_budget_means_higher_thresholds():
    strict = spikes.thresholds({"false_alarms_per_month": 0.5})
    loose = spikes.thresholds({"false_alarms_per_month": 4})
    assert strict["cusum"] > loose["cusum"] and strict["tail"] < loose["tail"]


def test_summarise_counts_false_alerts_per_30_days():
    events = [{"type": "open", "at": at(h)} for h in (5 * DAY, 20 * DAY + 2, 50 * DAY)]
    events.append({"type": "escalate", "at": at(20 * DAY + 5)})
    s = summarise(events, [(at(20 * DAY), at(20 * DAY + 6))], at(0), at(60 * DAY))
    assert s["false_alerts"] == 2 and s["storms_caught"] == 1
    assert s["false_alerts_per_30_days"] == pytest.approx(1.0)
    assert s["delays_hours"] == [2.0] and s["precision"] == pytest.approx(1 / 3)


# --- NAB scorer ---------------------------------------------------------------------------
ROWS = 100  # probation: floor(0.15 * 100) = 15 rows
WINDOWS = [(30, 39), (70, 79)]


def test_nab_null_detector_scores_zero():
    s = nab_scorer.score_file([False] * ROWS, WINDOWS)
    assert nab_scorer.normalised([s]) == pytest.approx(0.0)


def test_nab_perfect_detector_scores_hundred():
    hits = [i in (30, 70) for i in range(ROWS)]
    assert nab_scorer.normalised([nab_scorer.score_file(hits, WINDOWS)]) == pytest.approx(100.0)


def test_nab_hand_computed_case():
    # Detections: row 10 (probation, ignored), row 20 (before any window: -0.11),
    # row 35 (window 1: position -(39-35+1)/10 = -0.5), row 36 (later in the same window:
    # no extra credit), row 45 (6 rows after window 1 of width 10: 0.11 * sigma(6/9)).
    hits = [i in (10, 20, 35, 36, 45) for i in range(ROWS)]
    s = nab_scorer.score_file(hits, WINDOWS)
    credit = (2 / (1 + math.exp(-2.5)) - 1) / (2 / (1 + math.exp(-5)) - 1)  # 0.85980
    late_fp = 0.11 * (2 / (1 + math.exp(5 * 6 / 9)) - 1)  # -0.10236
    raw = -0.11 + credit + late_fp - 1.0  # window 2 missed
    assert s.raw == pytest.approx(raw, abs=1e-9)
    assert s.windows_hit == 1 and s.false_positives == 2
    assert nab_scorer.normalised([s]) == pytest.approx(100 * (raw + 2) / 4)
    assert round(credit, 4) == 0.8598 and round(late_fp, 4) == -0.1024


def test_nab_window_in_probation_is_not_scored():
    s = nab_scorer.score_file([False] * ROWS, [(5, 12), (70, 79)])
    assert s.windows == 1 and s.null == -1.0


def bursty_counts(seed: int, days: int = 90) -> list[tuple[str, int, int]]:
    """A bare count (n = y) with heavy-tailed bursts nobody labelled, as real mention volume
    has: about every third day a burst of 3-30x the rhythm for a few hours."""
    rng = random.Random(seed)
    rows, burst = [], (0, 0, 1.0)
    for h in range(days * 24):
        if h >= burst[0] + burst[1] and rng.random() < 1 / 72:
            burst = (h, rng.randint(1, 6), 3.0 * math.exp(rng.random() * math.log(10)))
        fold = burst[2] if burst[0] <= h < burst[0] + burst[1] else 1.0
        y = poisson(rng, 4.0 * rhythm(h) * fold)
        rows.append((at(h), y, y))
    return rows


BARE = {"negatives_follow_volume": False, "share_test": False, "calibration_tail": "upper"}


def test_bursty_counts_get_far_fewer_false_alerts_with_per_series_calibration():
    # The Poisson model's thresholds alert on every big burst (7.1 a month here); thresholds
    # set from the series' own history alert on about one burst in four of this deliberately
    # harsh mix (ten a month, up to 30x): 2.6 a month, most while a series is young and each
    # new record burst is still a surprise. Real series are kinder (README, Detection).
    def rate(params):
        alerts = sum(len(opens(replay(bursty_counts(seed), params))) for seed in range(8))
        return 30.0 * alerts / (8 * (90 - spikes.DEFAULTS["warmup_days"]))

    calibrated = rate({**BARE, "false_alarms_per_month": 1.0})
    analytic = rate({**BARE, "false_alarms_per_month": 1.0, "calibrate": False})
    assert calibrated <= 3.0
    assert analytic > 2 * calibrated


def test_a_state_saved_by_the_previous_version_loads_and_calibrates():
    rows = series(days=40, seed=3)
    state = spikes.new_state()
    for stamp, n, y in rows[:20 * DAY]:
        spikes.step(state, stamp, n, y)
    stored = json.loads(state.to_json())
    del stored["cal"]  # what version 1 stored in detector_states
    stored.update(version=1, phi_volume=1.0)
    old = spikes.State.from_json(json.dumps(stored))
    for stamp, n, y in rows[20 * DAY:]:
        spikes.step(old, stamp, n, y)
    assert old.version == spikes.STATE_VERSION
    # Its own calibration starts from the day after loading: 19 whole days since.
    assert len(old.cal["maxima"][0]) == 19
    assert spikes.State.from_json(old.to_json()) == old
