"""Sentiment benchmark: earful's scorer against plain vaderSentiment, side by side in one run.

    .venv/bin/python benchmarks/sentiment/run.py            # print the tables
    .venv/bin/python benchmarks/sentiment/run.py --write    # also update README.md

Reports on the TEST split (even ids; cut-offs were chosen on the odd ids, see calibrate.py).
Clothing reviews are scored on their text only (title + review), never with the stars.
Throughput: texts per second on one core, median of REPEATS runs over each test split, the two
scorers interleaved so that machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from analysis import language, sentiment
from benchmarks.sentiment import calibrate, data
from benchmarks.sentiment import metrics as m

REPEATS = 7
README = Path(__file__).with_name("README.md")
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def throughput(scorers: dict[str, Callable[[str], object]], texts: list[str]) -> dict[str, float]:
    runs: dict[str, list[float]] = {name: [] for name in scorers}
    for _ in range(REPEATS):
        for name, fn in scorers.items():  # interleaved: each repeat runs every scorer once
            start = time.perf_counter()
            for text in texts:
                fn(text)
            runs[name].append(len(texts) / (time.perf_counter() - start))
    return {name: statistics.median(rates) for name, rates in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update the table in README.md")
    args = parser.parse_args()
    if not data.available():
        sys.exit(f"corpus not found at {data.CORPUS}: skipping the sentiment benchmark")

    vader = SentimentIntensityAnalyzer()

    def plain(text: str) -> float:
        return vader.polarity_scores(text)["compound"]

    def ours(text: str) -> float:
        return sentiment.analyze(text).score

    # VADER with cut-offs chosen on the dev split by the same procedure as ours, so the table
    # shows how much of the gain is the method and how much the cut-offs.
    v_neg, v_pos = calibrate.calibrate(calibrate.dev_scores(plain))
    rows = [
        ("vaderSentiment (documented cuts -0.05 / 0.05)", plain, -0.05, 0.05),
        (f"vaderSentiment (dev-calibrated cuts {v_neg} / {v_pos})", plain, v_neg, v_pos),
        (f"earful {sentiment.MODEL} {sentiment.VERSION} (cuts {sentiment.NEGATIVE_CUT} / "
         f"{sentiment.POSITIVE_CUT})", ours, sentiment.NEGATIVE_CUT, sentiment.POSITIVE_CUT),
    ]
    lines = ["| set (test split) | n | scorer | Pearson r | neg. precision | neg. recall | "
             "neg. F1 | 3-way accuracy |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    speed = ["| set (test split) | VADER texts/s | earful texts/s | ratio | language detector "
             "alone texts/s | detected non-English |", "|---|---:|---:|---:|---:|---:|"]
    for set_name, load in data.SETS.items():
        items = [i for i in load() if not i.dev]
        gold = [i.gold for i in items]
        texts = [i.text for i in items]
        cache: dict[int, list[float]] = {}
        for scorer_name, fn, neg, pos in rows:
            scores = cache.setdefault(id(fn), [fn(t) for t in texts])
            pred = [m.three_way(x, neg, pos) for x in scores]
            p, r, f1 = m.negative_prf(gold, pred)
            corr = (f"{m.pearson(scores, [i.mean for i in items]):.3f}"
                    if items[0].mean is not None else "–")
            lines.append(f"| {set_name} | {len(items)} | {scorer_name} | {corr} | {p:.3f} | "
                         f"{r:.3f} | {f1:.3f} | {m.accuracy(gold, pred):.3f} |")
        rates = throughput({"vader": plain, "ours": ours, "lang": language.detect}, texts)
        foreign = sum(1 for t in texts if language.detect(t) not in (None, "en"))
        speed.append(f"| {set_name} | {rates['vader']:,.0f} | {rates['ours']:,.0f} | "
                     f"{rates['ours'] / rates['vader']:.2f} | {rates['lang']:,.0f} | "
                     f"{foreign} of {len(texts)} |")
    machine = f"Python {platform.python_version()}, {platform.machine()}, one core"
    text = "\n".join([*lines, "", *speed, "",
                      f"Throughput: median of {REPEATS} interleaved repeats, {machine}."])
    print(text)
    if args.write:
        readme = README.read_text(encoding="utf-8")
        head, _, rest = readme.partition(BEGIN)
        _, _, tail = rest.partition(END)
        README.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
