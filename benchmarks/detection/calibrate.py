"""Fit the CUSUM offset of ``analysis/calibration.py`` by replay, on series the injection
benchmark does not use.

    .venv/bin/python benchmarks/detection/calibrate.py [--seeds 4]

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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis.spike_replay import replay, summarise  # noqa: E402
from benchmarks.detection.data import (  # noqa: E402
    NAB,
    RESULTS,
    hourly,
    read_nab_csv,
    require_corpus,
    windows,
)

BUDGETS = [0.5, 1.0, 2.0, 4.0]
OFFSETS = [x / 2 for x in range(-12, 3)]
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


def fa30(series, params) -> float:
    false, days = 0, 0.0
    for rows, storms in series:
        s = summarise(replay(rows, params), storms, rows[WARMUP][0], rows[-1][0], grace_hours=12)
        false += s["false_alerts"]
        days += s["days"]
    return 30 * false / days


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()
    require_corpus()
    series = calibration_series(args.seeds)
    table = {}
    for budget in BUDGETS:
        table[budget] = {}
        for offset in OFFSETS:
            table[budget][offset] = fa30(
                series, {"false_alarms_per_month": budget, "cusum_offset": offset}
            )
        ok = [o for o in OFFSETS if table[budget][o] <= budget]
        print(
            f"budget {budget}: "
            + " ".join(f"{o:+.1f}:{v:.2f}" for o, v in table[budget].items())
            + f" -> smallest offset within budget: {ok[0] if ok else None}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "calibration.json").write_text(
        json.dumps({"series": len(series), "fa30_by_budget_and_offset": table}, indent=1)
    )


if __name__ == "__main__":
    main()
