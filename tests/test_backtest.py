"""`earful backtest`: replay stored history or a CSV of counts; nothing is sent."""

from __future__ import annotations

import datetime as dt
import json
import random

from click.testing import CliRunner

from earful import db as store
from earful import pipeline
from earful.cli import cli
from tests.conftest import NOW, make_config
from tests.test_stages import demo_mentions


def write_counts(path, storm_at=None, days=21, negatives=True):
    rng = random.Random(4)
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    lines = ["timestamp,value,negatives" if negatives else "timestamp,value"]
    for h in range(days * 24):
        at = start + dt.timedelta(hours=h)
        n = sum(rng.random() < 0.5 for _ in range(20))
        y = sum(rng.random() < 0.15 for _ in range(n))
        if storm_at is not None and storm_at <= h < storm_at + 6:
            y += 12
            n += 12
        lines.append(f"{at:%Y-%m-%d %H:%M:%S},{n},{y}" if negatives else
                     f"{at:%Y-%m-%d %H:%M:%S},{y}")
    path.write_text("\n".join(lines) + "\n")


def test_csv_replay_reports_the_storm_and_the_alert_rate(tmp_path):
    csv = tmp_path / "counts.csv"
    write_counts(csv, storm_at=15 * 24 + 10)
    storm = "2026-10-16T10:00/2026-10-16T16:00"
    result = CliRunner().invoke(cli, ["backtest", "--csv", str(csv), "--storm", storm,
                                      "--plot", str(tmp_path / "plot.png")])
    assert result.exit_code == 0, result.output
    assert "OPEN     2026-10-16T1" in result.output
    assert "1 of 1 known storm(s) caught" in result.output
    assert "0 false alert(s)" in result.output
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quiet_history_opens_nothing(tmp_path):
    csv = tmp_path / "counts.csv"
    write_counts(csv, negatives=False)
    result = CliRunner().invoke(cli, ["backtest", "--csv", str(csv)])
    assert result.exit_code == 0, result.output
    assert "No episode would have opened." in result.output
    assert "upper bound on the false-alarm rate" in result.output


def test_bad_csv_names_the_file_and_line(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("timestamp,value\n2026-10-01 00:00:00,3\n2026-10-01 01:00:00,lots\n")
    result = CliRunner().invoke(cli, ["backtest", "--csv", str(csv)])
    assert result.exit_code == 2
    assert f"{csv}:3: not a number" in result.output


def test_replays_a_brands_stored_history_with_other_settings(tmp_path):
    config = make_config(tmp_path)
    db = store.connect(config.database)
    with db.atomic():
        store.save_mentions(db, "Larkspur", demo_mentions(NOW))
    pipeline.score(db, config, show_progress=False)
    db.close()
    runner = CliRunner()
    args = ["backtest", "--config", str(config.path), "--brand", "Larkspur"]
    default = runner.invoke(cli, args)
    assert default.exit_code == 0, default.output
    assert default.output.count("OPEN ") == 1
    # Nothing was written: backtesting never touches episodes or alerts.
    db = store.connect(config.database)
    assert db.execute("SELECT count(*) FROM episodes").fetchone()[0] == 0
    db.close()
    unknown = runner.invoke(cli, ["backtest", "--config", str(config.path), "--brand", "Nope"])
    assert unknown.exit_code == 2 and "no brand named 'Nope'" in unknown.output


def test_json_gives_one_record_per_episode_across_many_csvs(tmp_path):
    stormy, quiet = tmp_path / "stormy.csv", tmp_path / "quiet.csv"
    write_counts(stormy, storm_at=15 * 24 + 10)
    write_counts(quiet)
    result = CliRunner().invoke(cli, ["backtest", "--csv", str(stormy), "--csv", str(quiet),
                                      "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["series"] for r in records] == [str(stormy)]
    episode = records[0]
    assert episode["opened_at"].startswith("2026-10-16T1")
    assert episode["closed_at"] > episode["opened_at"]
    assert episode["rule"].startswith("negative-")
    assert episode["numbers"]["count"] > episode["numbers"]["expected"]
    assert isinstance(episode["escalations"], list)
    # Without --json, both files are reported, each under its name.
    text = CliRunner().invoke(cli, ["backtest", "--csv", str(stormy), "--csv", str(quiet)])
    assert f"== {stormy}" in text.output and f"== {quiet}" in text.output


def test_csv_honours_the_configs_budget(tmp_path):
    csv = tmp_path / "counts.csv"
    write_counts(csv)
    config = make_config(tmp_path, "\n[detection]\nfalse_alarms_per_month = 0.25\n")
    result = CliRunner().invoke(cli, ["backtest", "--config", str(config.path), "--csv",
                                      str(csv)])
    assert result.exit_code == 0, result.output
    assert "false_alarms_per_month=0.25" in result.output
    # An option still beats the config.
    result = CliRunner().invoke(cli, ["backtest", "--config", str(config.path), "--csv",
                                      str(csv), "--false-alarms-per-month", "2"])
    assert "false_alarms_per_month=2," in result.output


def test_warm_up_is_stated_and_rates_cover_the_scored_days_only(tmp_path):
    csv = tmp_path / "counts.csv"
    write_counts(csv, days=21)
    result = CliRunner().invoke(cli, ["backtest", "--csv", str(csv)])
    assert result.exit_code == 0, result.output
    assert "Warm-up: the first 7 days (168 buckets)" in result.output
    # 21 days of hourly rows, 7 of them warm-up: 14 scored days (less the last hour).
    assert "rates below are over the 14.0 scored days from 2026-10-08T00:00:00Z" in result.output
    assert "in 14 scored days" in result.output
    help_text = CliRunner().invoke(cli, ["backtest", "--help"]).output
    assert "first 7 days of a series are its warm-up" in help_text
