"""Sentiment benchmark: earful's model against plain vaderSentiment and the lexicon alone.

    .venv/bin/python benchmarks/sentiment/run.py            # print the tables
    .venv/bin/python benchmarks/sentiment/run.py --write    # also update README.md

Reports on the TEST split (even ids): the lexicon's cut-offs were chosen on the odd ids
(calibrate.py); the model never saw either half (trained and calibrated on sentiment_train only).
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
from benchmarks.sentiment import data
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
    parser.add_argument("--no-speed", action="store_true", help="skip the throughput table")
    args = parser.parse_args()
    if not data.available():
        sys.exit(f"corpus not found at {data.CORPUS}: skipping the sentiment benchmark")

    vader = SentimentIntensityAnalyzer()

    def plain(text: str) -> float:
        return vader.polarity_scores(text)["compound"]

    def ours(text: str) -> float:
        return sentiment.analyze(text).score

    rows = [
        ("plain vaderSentiment (cuts -0.05 / 0.05)", plain, -0.05, 0.05),
        (f"lexicon alone, as shipped (cuts {sentiment.LEXICON_NEGATIVE_CUT} / "
         f"{sentiment.LEXICON_POSITIVE_CUT})", sentiment.lexicon_score,
         sentiment.LEXICON_NEGATIVE_CUT, sentiment.LEXICON_POSITIVE_CUT),
        (f"earful {sentiment.MODEL} {sentiment.VERSION} (cuts {sentiment.NEGATIVE_CUT} / "
         f"{sentiment.POSITIVE_CUT})", ours, sentiment.NEGATIVE_CUT, sentiment.POSITIVE_CUT),
    ]
    lines = ["| set (test split) | n | scorer | Pearson r | neg. precision | neg. recall | "
             "neg. F1 | neg. ROC AUC | 3-way accuracy |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    speed = ["| set (test split) | VADER texts/s | earful texts/s | ratio | language detector "
             "alone texts/s | detected non-English |", "|---|---:|---:|---:|---:|---:|"]
    means: dict[str, list[tuple[float, float]]] = {name: [] for name, *_ in rows}
    for set_name, load in data.SETS.items():
        items = [i for i in load() if not i.dev]
        gold = [i.gold for i in items]
        texts = [i.text for i in items]
        for scorer_name, fn, neg, pos in rows:
            scores = [fn(t) for t in texts]
            pred = [m.three_way(x, neg, pos) for x in scores]
            p, r, f1 = m.negative_prf(gold, pred)
            auc = m.negative_auc(gold, scores)
            means[scorer_name].append((f1, auc))
            corr = (f"{m.pearson(scores, [i.mean for i in items]):.3f}"
                    if items[0].mean is not None else "–")
            lines.append(f"| {set_name} | {len(items)} | {scorer_name} | {corr} | {p:.3f} | "
                         f"{r:.3f} | {f1:.3f} | {auc:.3f} | {m.accuracy(gold, pred):.3f} |")
        if args.no_speed:
            continue
        rates = throughput({"vader": plain, "ours": ours, "lang": language.detect}, texts)
        foreign = sum(1 for t in texts if language.detect(t) not in (None, "en"))
        speed.append(f"| {set_name} | {rates['vader']:,.0f} | {rates['ours']:,.0f} | "
                     f"{rates['ours'] / rates['vader']:.2f} | {rates['lang']:,.0f} | "
                     f"{foreign} of {len(texts)} |")
    summary = ["| scorer | mean neg. F1 | mean neg. ROC AUC |", "|---|---:|---:|"]
    for name, values in means.items():
        summary.append(f"| {name} | {statistics.mean(f for f, _ in values):.3f} | "
                       f"{statistics.mean(a for _, a in values):.3f} |")
    meta = sentiment.model().meta["figures"]
    loso = ["| training source held out | n | model neg. F1 | model neg. ROC AUC | "
            "lexicon alone neg. F1 | lexicon alone neg. ROC AUC |",
            "|---|---:|---:|---:|---:|---:|"]
    for source, row in meta["loso"].items():
        if not isinstance(row, dict):
            continue
        lex = meta["loso_lexicon_alone"][source]
        loso.append(f"| {source} | {row['n']:,} | {row['neg_f1']:.3f} | {_fmt(row['auc'])} | "
                    f"{lex['neg_f1']:.3f} | {_fmt(lex['auc'])} |")
    loso.append(f"| mean over sources with both classes | | {meta['loso']['mean_neg_f1']:.3f} | "
                f"{meta['loso']['mean_auc']:.3f} | {meta['loso_lexicon_alone']['mean_neg_f1']:.3f}"
                f" | {meta['loso_lexicon_alone']['mean_auc']:.3f} |")
    machine = f"Python {platform.python_version()}, {platform.machine()}, one core"
    parts = [*lines, "", *summary, "", "Leave-one-source-out on the training data (from the "
             "model file's metadata; the model is fitted on the other four sources):", "",
             *loso]
    if not args.no_speed:
        parts += ["", *speed, "", f"Throughput: median of {REPEATS} interleaved repeats, "
                  f"{machine}."]
    text = "\n".join(parts)
    print(text)
    if args.write:
        readme = README.read_text(encoding="utf-8")
        head, _, rest = readme.partition(BEGIN)
        _, _, tail = rest.partition(END)
        README.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}", encoding="utf-8")


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
