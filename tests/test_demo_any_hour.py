"""The offline demo gives the same answer at any hour: every hour of a week, one episode.

The demo is the first thing a newcomer runs, at whatever hour they happen to. Its data are
laid on a grid anchored at a UTC midnight (``earful.demo_data``), so the items, and what the
detector makes of them, must not depend on the end's hour, weekday or month. The first test
checks the items themselves; the second runs the real demo once (local server, collectors,
score stage) and then replays what it collected, moved to 168 end times across a week,
through the real save, score and detect stages.
"""

from __future__ import annotations

import datetime as dt
import functools
import shutil

import pytest

from analysis import sentiment
from collectors.base import Mention, iso, parse_iso
from earful import config as cfg
from earful import db as store
from earful import demo, pipeline
from earful import demo_data as dd

# Monday 00:43 UTC onwards, an hour apart: a cron-like minute, every hour of a week, and the
# week crosses a month end (30 November to 7 December).
WEEK = [dt.datetime(2026, 11, 30, 0, 43, tzinfo=dt.UTC) + dt.timedelta(hours=h)
        for h in range(168)]


def _shape(items: list[dd.Item], start: dt.datetime) -> list[tuple]:
    return [(i.kind, i.index, i.created - start, i.mood, i.title, i.text, i.author, i.rating,
             i.site, i.parent) for i in items]


def test_demo_items_are_the_same_at_every_hour_of_a_week():
    longest = WEEK[23]  # 23:43: the whole day is there
    reference = _shape(dd.generate(longest), dd.grid_start(longest))
    lengths = set()
    for end in WEEK:
        items = dd.generate(end)
        shape = _shape(items, dd.grid_start(end))
        # The same items at the same offsets from the grid's midnight, cut at the end's hour.
        assert shape == reference[:len(shape)], end
        assert items[-1].created < end.replace(minute=0), end  # cut at the end's hour
        onset = dd.storm_onset(end)
        assert onset == dd.grid_start(end, 1) + dt.timedelta(hours=dd.STORM_HOUR)
        storm = [i for i in items if i.mood == "storm"]
        assert storm and onset <= storm[0].created and storm[-1].created < onset + dt.timedelta(
            hours=dd.STORM_HOURS)
        lengths.add(len(items))
    assert len(lengths) > 12  # the cut really moves with the hour


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """One real demo run (local server, collectors, score stage): what it stored."""
    workdir = tmp_path_factory.mktemp("demo")
    end = WEEK[23]
    code = demo.run_demo(workdir, serve=False, port=8001, echo=lambda _: None, end=end)
    assert code == 0
    db = store.connect(workdir / "earful.db")
    try:
        rows = list(db.query("SELECT source, native_id, kind, target, created_at, title, body, "
                             "rating, author, url FROM mentions ORDER BY created_at"))
    finally:
        db.close()
    config_text = (workdir / "config.toml").read_text(encoding="utf-8")
    return end, rows, config_text


def _memoised_analyze():
    analyze = sentiment.analyze

    @functools.cache
    def cached(text, rating, lexicon_items):
        return analyze(text, rating, dict(lexicon_items) if lexicon_items else None)

    def wrapper(text, rating=None, lexicon=None):
        return cached(text, rating, tuple(sorted(lexicon.items())) if lexicon else None)

    return wrapper


@pytest.mark.slow
def test_the_demo_opens_exactly_the_storm_episode_at_every_hour_of_a_week(
        collected, tmp_path, monkeypatch):
    reference_end, rows, config_text = collected
    # The scorer is a pure function of the text: score each distinct text once, not 168 times.
    monkeypatch.setattr(pipeline.sentiment, "analyze", _memoised_analyze())
    reference_start = dd.grid_start(reference_end)
    assert len(rows) > 2000
    template = tmp_path / "template.db"  # migrated once, copied for each end time
    store.connect(template).close()
    outcomes = {}
    for number, end in enumerate(WEEK):
        shift = dd.grid_start(end) - reference_start  # whole days
        cutoff = end.replace(minute=0)
        mentions = []
        for row in rows:
            created = parse_iso(row["created_at"]) + shift
            if created < cutoff:
                mentions.append(Mention(**{**row, "created_at": iso(created)}))
        workdir = tmp_path / f"end{number}"
        workdir.mkdir()
        path = workdir / "config.toml"  # the demo's own settings, a database of its own
        path.write_text(config_text.replace(_database_line(config_text),
                                            str(workdir / "earful.db")), encoding="utf-8")
        config = cfg.parse(cfg.tomllib.loads(path.read_text(encoding="utf-8")), path,
                           env=demo.DEMO_ENV)
        shutil.copyfile(template, config.database)
        db = store.connect(config.database)
        try:
            with db.atomic():
                store.save_mentions(db, dd.BRAND, mentions, run_id=1)
            pipeline.score(db, config, show_progress=False)
            pipeline.detect(db, config, now=end)
            episodes = db.execute("SELECT series, opened_at FROM episodes WHERE series = 'all'"
                                  ).fetchall()
        finally:
            db.close()
        onset = dd.storm_onset(end)
        outcomes[end] = [(s, (parse_iso(at) - onset) / dt.timedelta(hours=1))
                         for s, at in episodes]
    wrong = {iso(end): got for end, got in outcomes.items()
             if len(got) != 1 or not 0 <= got[0][1] < dd.STORM_HOURS}
    assert not wrong, f"{len(wrong)} of 168 end times: {wrong}"
    # And the same hour of the storm every time: the detector saw the same series.
    assert len({got[0][1] for got in outcomes.values()}) == 1


def _database_line(config_text: str) -> str:
    for line in config_text.splitlines():
        if line.startswith("database = "):
            return line.split('"')[1]
    raise AssertionError("no database line in the demo config")

