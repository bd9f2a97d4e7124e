"""Fit the CUSUM offsets of ``analysis/calibration.py`` by replay, on series the injection
benchmark does not use.

    .venv/bin/python benchmarks/detection/calibrate.py [--seeds 3]

Two offsets are fitted one at a time (the other held at its shipped value): the
negative-volume CUSUM's (``cusum_offset``) and the negative-share CUSUM's (``share_offset``).
Two pools, both reported: the real calibration series below, and synthetic hourly
Poisson/binomial series with a sharp daily and weekly rhythm (the ``tests/test_spikes.py``
generator, 10 seeds x 60 days). The chosen offset is the smallest one that keeps *both* pools
within budget at every budget in ``BUDGETS``.

Calibration series: the high-volume NAB dev files (AAPL, AMZN, FB) at 1 h, binomially thinned
to low volumes (mean 3, 10 and 30 mentions an hour) and then into negatives at p0 ~ U(0.1, 0.2),
fixed seeds, no injected storms. Alerts opening in a labelled NAB window (or 12 h after it)
are not counted. For each budget the script prints the false alerts per series per 30 days
at each offset and the smallest offset that keeps within the budget. CRM and CVS (the
injection benchmark) are not used, so the benchmark's false-alarm figure is out of sample.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # repo root

from analysis import calibration  # noqa: E402
from analysis.spike_replay import replay, summarise  # noqa: E402
from benchmarks.detection.data import (  # noqa: E402
    NAB,
    RESULTS,
    hourly,
    read_nab_csv,
    require_corpus,
    windows,
)

BUDGETS = [0.25, 1.0, 2.0]
# Half-nat grid plus the shipped offsets themselves, so the shipped pair is always measured.
OFFSETS = sorted({x / 2 for x in range(-10, 1)}
                 | {calibration.CUSUM_OFFSET, calibration.SHARE_OFFSET})
WARMUP = 7 * 24


def calibration_series(seeds: int):
    out = []
    for name in ("AAPL", "AMZN", "FB"):
        rows = hourly(read_nab_csv(NAB / "realTweets" / f"Twitter_volume_{name}.csv"))
        volume = np.array([v for _, v in rows])
        storms = [(a.replace(" ", "T") + "Z", b.replace(" ", "T") + "Z") for a, b in windows(name)]
        for target in (3, 10, 30):
            for seed in range(seeds):
                rng = np.random.default_rng(seed * 100 + target)
                n = rng.binomial(volume, min(1.0, target / volume.mean()))
                y = rng.binomial(n, rng.uniform(0.1, 0.2))
                out.append(
                    (
                        [(at, int(a), int(b)) for (at, _), a, b in zip(rows, n, y, strict=True)],
                        storms,
                    )
                )
    return out


def synthetic_series() -> list:
    from tests.test_spikes import series as rhythm_series

    return [(rhythm_series(days=60, seed=seed), []) for seed in range(1, 11)]


def fa30(series, params) -> float:
    false, days = 0, 0.0
    for rows, storms in series:
        s = summarise(replay(rows, params), storms, rows[WARMUP][0], rows[-1][0], grace_hours=12)
        false += s["false_alerts"]
        days += s["days"]
    return 30 * false / days


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    require_corpus()
    pools = {"real": calibration_series(args.seeds), "synthetic": synthetic_series()}
    out: dict = {"series": {k: len(v) for k, v in pools.items()}, "budgets": BUDGETS}
    for knob in ("cusum_offset", "share_offset"):
        table: dict = {}
        for budget in BUDGETS:
            for offset in OFFSETS:
                params = {"false_alarms_per_month": budget, knob: offset}
                table[f"{budget}|{offset}"] = {k: fa30(v, params) for k, v in pools.items()}
        ok = [o for o in OFFSETS
              if all(table[f"{b}|{o}"][k] <= b for b in BUDGETS for k in pools)]
        out[knob] = {"fa30": table, "chosen": ok[0] if ok else None}
        print(f"{knob} (other offset at its shipped value):")
        for budget in BUDGETS:
            print(f"  budget {budget}: " + " ".join(
                f"{o:+.2f}:{table[f'{budget}|{o}']['real']:.2f}/"
                f"{table[f'{budget}|{o}']['synthetic']:.2f}" for o in OFFSETS))
        print(f"  -> smallest offset within budget on both pools: {out[knob]['chosen']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "calibration.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
