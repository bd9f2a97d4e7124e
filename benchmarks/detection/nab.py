"""Benchmark 1: NAB realTweets, standard profile, with our own scorer (``nab_scorer.py``).

    .venv/bin/python benchmarks/detection/nab.py                      # dev half: sweep, pick, save
    .venv/bin/python benchmarks/detection/nab.py --input DIR --threshold-json \
        benchmarks/detection/results/nab_threshold.json --out DIR2      # other files, dev threshold

For every NAB-format CSV (``timestamp,value``, 5-minute rows) it writes
``<out>/<name>.csv`` with ``timestamp,value,anomaly_score``; the score is empty except on rows
where an episode opens or escalates. Sweeping one threshold over that column is the NAB
protocol; the threshold picked on the dev half is printed and saved to
``results/nab_threshold.json`` so anyone can score other files at it with their own scorer
(a row is a detection when ``anomaly_score >= threshold``).

The score (issue 14). The detector's only knob is the false-alarm budget b (false alerts per
series per 30 days), and the app runs one budget, so the benchmark does too: a row's
``anomaly_score`` is ``1 / (1 + b)`` where the detector run at budget b opens or escalates an
episode (the alert emails), empty elsewhere, and the saved threshold is that same value, so
"score >= threshold" is exactly the app's alerts at b. The budget is chosen on the dev files
as the best NAB score among budgets on ``BUDGETS`` whose false alerts stay within 1 per
series per 30 days (the promise users rely on); ``--threshold-json`` runs the saved budget on
other files. Every run is causal: the score of row t depends on rows <= t only. No whole-file
min/max, no look-ahead. (Until round 4 the column was a union of runs over a ladder of budgets
down to 1e-5 a month, which picked a dev optimum that was no budget at all.)

Out of sample: leave-one-file-out on the five dev files (the budget chosen on four, the fifth
scored at it, all five pooled), the figure to trust; the dev-chosen figure is in-sample.

Detector settings (``NAB_PARAMS``), argued in ``README.md``: value = the count, fed as both
n and y (realTweets has no sentiment), ``negatives_follow_volume=False``, share test off,
warm-up = NAB's probationary period (2.5 days; the benchmark does not score it, and the
first labelled windows start on day 4-5), buckets rebinned to ``--bucket-minutes``
(default 60: 12 rows, decided on the row that closes the bucket, the score written there).
Everything else is the app's default.

Side by side, in the same run and through the same scorer: the three published-style rules
of ``rules.py`` on the same buckets, each with its documented knob swept (NAB re-optimises
every detector's threshold on the scored files).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis import spikes  # noqa: E402
from benchmarks.detection import nab_scorer, rules  # noqa: E402
from benchmarks.detection.data import (  # noqa: E402
    DEV_FILES,
    NAB,
    RESULTS,
    read_nab_csv,
    require_corpus,
    windows,
)

# Budgets tried (false alerts per series per 30 days), factor-2 steps.
BUDGETS = [float(f"{2.0 ** k:.3g}") for k in range(-16, 3)]
MAX_FA30 = 1.0  # the choice must keep the promise on the files it is chosen on
ROW_MINUTES = 5
NAB_PARAMS: dict[str, Any] = {
    "negatives_follow_volume": False,
    "share_test": False,
    "warmup_days": 2.5,
    # n == y: the baseline "share" is 1 from the first bucket, not a 1/6 prior.
    "share_prior_other": 0.0,
    # Bare counts: every surge in a series' history is one its budget pays for.
    "calibration_tail": "upper",
}
Bucket = tuple[str, int, int]


def buckets(rows: Sequence[tuple[str, int]], per: int) -> tuple[list[Bucket], list[int]]:
    """Consecutive blocks of ``per`` rows from the file start; the row index that closes each.

    The bucket is stamped with its first row's time (its hour-of-day slot); a trailing partial
    block is dropped (it never closes).
    """
    out, closing = [], []
    for start in range(0, len(rows) - per + 1, per):
        block = rows[start:start + per]
        total = sum(v for _, v in block)
        out.append((block[0][0].replace(" ", "T") + "Z", total, total))
        closing.append(start + per - 1)
    return out, closing


def ours(series: list[Bucket], budget: float, bucket_hours: float,
         extra: dict[str, Any] | None = None) -> list[int]:
    """Indices of buckets where an episode opens or escalates at this budget."""
    params = {**NAB_PARAMS, **(extra or {}), "false_alarms_per_month": budget,
              "bucket_hours": bucket_hours}
    state, hits = spikes.new_state(params), []
    for i, (at, n, y) in enumerate(series):
        if any(e["type"] in ("open", "escalate") for e in spikes.step(state, at, n, y, params)):
            hits.append(i)
    return hits


def detections(data: dict[str, list[tuple[str, int]]], per: int, budget: float,
               extra: dict[str, Any] | None = None) -> dict[str, list[bool]]:
    """Per file, per row: does the detector at this budget alert (open or escalate) there."""
    out = {}
    for name, rows in data.items():
        series, closing = buckets(rows, per)
        flags = [False] * len(rows)
        for i in ours(series, budget, per * ROW_MINUTES / 60, extra):
            flags[closing[i]] = True
        out[name] = flags
    return out


def write_scores(path: Path, rows: Sequence[tuple[str, int]], scores: Sequence[float | None]
                 ) -> None:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp", "value", "anomaly_score"])
        for (stamp, value), s in zip(rows, scores, strict=True):
            out.writerow([stamp, value, "" if s is None else f"{s:.8f}"])


def evaluate(detections: dict[str, list[bool]], spans: dict[str, list[tuple[int, int]]],
             rows_per_file: dict[str, int]) -> dict[str, Any]:
    files = {name: nab_scorer.score_file(detections[name], spans[name]) for name in detections}
    scored_days = sum(f.scored_rows for f in files.values()) * ROW_MINUTES / 1440
    fps = sum(f.false_positives for f in files.values())
    return {
        "score": nab_scorer.normalised(list(files.values())),
        "windows_hit": sum(f.windows_hit for f in files.values()),
        "windows": sum(f.windows for f in files.values()),
        "false_positives": fps,
        # per series per 30 days of scored rows (detections outside windows; these are emails)
        "fa30": 30.0 * fps / scored_days,
        "per_file": {n: {"raw": round(f.raw, 3), "hit": f.windows_hit, "windows": f.windows,
                         "fp": f.false_positives} for n, f in files.items()},
    }


def choose(runs: dict[float, dict[str, list[bool]]], files: list[str], spans,
           rows_per_file, max_fa30: float | None = MAX_FA30) -> tuple[float, dict[str, Any]]:
    """Best budget on these files (ties: the stricter); with ``max_fa30``, among budgets
    keeping within it (the strictest if none does)."""
    results = [(b, evaluate({f: det[f] for f in files}, spans, rows_per_file))
               for b, det in sorted(runs.items())]
    ok = [r for r in results if max_fa30 is None or r[1]["fa30"] <= max_fa30] or results[:1]
    return max(ok, key=lambda r: (r[1]["score"], -r[0]))


def leave_one_out(runs: dict[float, dict[str, list[bool]]], spans, rows_per_file,
                  max_fa30: float | None = MAX_FA30) -> dict[str, Any]:
    """Out-of-sample NAB: each file scored at the budget chosen on the other four; the five
    held-out files pooled into one score, windows-hit count and FA30."""
    names = list(next(iter(runs.values())))
    files, fps, scored_rows, chosen = [], 0, 0, {}
    for held in names:
        budget, _ = choose(runs, [n for n in names if n != held], spans, rows_per_file, max_fa30)
        f = nab_scorer.score_file(runs[budget][held], spans[held])
        files.append(f)
        fps += f.false_positives
        scored_rows += f.scored_rows
        chosen[held] = {"budget": budget, "raw": round(f.raw, 3), "hit": f.windows_hit,
                        "windows": f.windows, "fp": f.false_positives}
    return {"score": nab_scorer.normalised(files),
            "windows_hit": sum(f.windows_hit for f in files),
            "windows": sum(f.windows for f in files),
            "fa30": 30.0 * fps / (scored_rows * ROW_MINUTES / 1440), "per_file": chosen,
            "max_fa30_on_the_four": max_fa30}


RULES: dict[str, tuple[Callable[..., list[int]], str, list[float]]] = {
    "huginn": (rules.huginn_peaks, "std_multiple", [3.0, 4.0, 5.0, 6.0, 8.0, 10.0]),
    "elastalert": (rules.elastalert_spike, "spike_height", [3.0, 2.0, 4.0, 6.0, 10.0]),
    "socialmetrix": (rules.socialmetrix_daily, "sigmas", [2.0, 3.0, 4.0, 6.0, 8.0]),
}


def run_rules(data: dict[str, list[tuple[str, int]]], per: int, spans, rows_per_file
              ) -> list[dict[str, Any]]:
    out = []
    bucket_hours = per * ROW_MINUTES / 60
    for name, (rule, knob, values) in RULES.items():
        results = []
        for value in values:
            det = {}
            for f, rows in data.items():
                series, closing = buckets(rows, per)
                flags = [False] * len(rows)
                for i in rule(series, bucket_hours=bucket_hours, **{knob: value}):
                    flags[closing[i]] = True
                det[f] = flags
            r = evaluate(det, spans, rows_per_file)
            results.append({"setting": f"{knob}={value}", "default": value == values[0], **r})
        best = max(results, key=lambda r: r["score"])
        out.append({"detector": name, "default_result": results[0], "best": best,
                    "sweep": [{k: v for k, v in r.items() if k != "per_file"} for r in results]})
    return out


def _value(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, help="directory of NAB-format CSVs (default: dev half)")
    # The score files repeat the corpus values, so they are written outside the repository.
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "earful-nab-scores",
                    help="where the per-file score CSVs go (default: a temp directory)")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="override a detector parameter (sensitivity checks; not saved as dev)")
    ap.add_argument("--threshold-json", type=Path,
                    help="use this saved threshold (no labels needed) instead of sweeping")
    ap.add_argument("--bucket-minutes", type=int, default=60, choices=[5, 15, 30, 60])
    ap.add_argument("--no-rules", action="store_true", help="skip the published-style rules")
    args = ap.parse_args()

    per = args.bucket_minutes // ROW_MINUTES
    extra = {k: _value(v) for k, v in (item.split("=", 1) for item in args.param)}
    if args.threshold_json:
        saved = json.loads(args.threshold_json.read_text())
        per = saved["bucket_minutes"] // ROW_MINUTES
    if args.input is None:
        require_corpus()
        paths = [NAB / "realTweets" / f"Twitter_volume_{n}.csv" for n in DEV_FILES]
    else:
        paths = sorted(args.input.glob("*.csv"))
        if not paths:
            sys.exit(f"no CSV files in {args.input}")
    args.out.mkdir(parents=True, exist_ok=True)
    data = {p.stem: read_nab_csv(p) for p in paths}
    if args.threshold_json:
        budget = saved["budget"]
        for name, flags in detections(data, per, budget, extra).items():
            write_scores(args.out / f"{name}.csv", data[name],
                         [round(1 / (1 + budget), 8) if f else None for f in flags])
            print(f"{name}: {sum(flags)} detections at budget {budget:g} "
                  f"(threshold {saved['threshold']:.8f})")
        print(f"wrote {len(data)} score files to {args.out}")
        return

    # Dev half: labels, one run per budget, choose, leave one file out.
    stems = {f"Twitter_volume_{n}": n for n in DEV_FILES}
    spans, rows_per_file = {}, {}
    for name, rows in data.items():
        label = windows(stems.get(name, name))
        spans[name] = nab_scorer.windows_to_rows([t for t, _ in rows], label)
        rows_per_file[name] = len(rows)
    runs = {b: detections(data, per, b, extra) for b in BUDGETS}
    table = [{"budget": b, **{k: v for k, v in evaluate(det, spans, rows_per_file).items()
                              if k != "per_file"}} for b, det in runs.items()]
    print("one run per budget (in sample): " + "; ".join(
        f"{r['budget']:g}: {r['score']:.1f} {r['windows_hit']}/{r['windows']} "
        f"FA30 {r['fa30']:.2f}" for r in table))
    budget, best = choose(runs, list(data), spans, rows_per_file)
    theta = round(1.0 / (1.0 + budget), 8)
    for name, flags in runs[budget].items():
        write_scores(args.out / f"{name}.csv", data[name], [theta if f else None for f in flags])
    print(f"wrote {len(data)} score files to {args.out}")
    print(f"ours ({args.bucket_minutes} min buckets), chosen on all five (in sample): budget "
          f"{budget:g} a month: NAB standard {best['score']:.1f}, windows "
          f"{best['windows_hit']}/{best['windows']}, FA30 {best['fa30']:.2f}")
    loo = {"within_1_fa30": leave_one_out(runs, spans, rows_per_file),
           "nab_optimal": leave_one_out(runs, spans, rows_per_file, max_fa30=None)}
    for key, r in loo.items():
        print(f"leave-one-file-out ({key}): NAB {r['score']:.1f}, windows "
              f"{r['windows_hit']}/{r['windows']}, FA30 {r['fa30']:.2f}; budgets "
              + ", ".join(f"{n.split('_')[-1]} {v['budget']:g}" for n, v in r["per_file"].items()))
    out: dict[str, Any] = {
        "bucket_minutes": args.bucket_minutes, "threshold": theta, "budget": budget,
        "score_definition": "anomaly_score = 1 / (1 + b) on rows where the detector run at "
                            "budget b opens or escalates an episode; threshold = that value",
        "params": NAB_PARAMS, "dev_files": list(data),
        "dev_result": best, "leave_one_file_out": loo, "budgets": table,
    }
    if not args.no_rules:
        out["rules"] = run_rules(data, per, spans, rows_per_file)
        for r in out["rules"]:
            d, b = r["default_result"], r["best"]
            print(f"{r['detector']:13} default {d['setting']}: {d['score']:.1f} "
                  f"({d['windows_hit']}/{d['windows']}, FA30 {d['fa30']:.2f}); "
                  f"best {b['setting']}: {b['score']:.1f} "
                  f"({b['windows_hit']}/{b['windows']}, FA30 {b['fa30']:.2f})")
    if extra:
        print("(parameter overrides: results not saved)")
        return
    suffix = "" if args.bucket_minutes == 60 else f"_{args.bucket_minutes}min"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"nab{suffix}.json").write_text(json.dumps(out, indent=1))
    (RESULTS / f"nab_threshold{suffix}.json").write_text(json.dumps(
        {k: out[k] for k in ("bucket_minutes", "threshold", "budget", "score_definition",
                             "params")}, indent=1))


if __name__ == "__main__":
    main()
