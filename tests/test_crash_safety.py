"""Cron safety with real processes: SIGKILL at many points, overlapping runs.

Each test runs the installed `earful run` against the demo server (a real local HTTP
server answering like Reddit, Hacker News, Trustpilot, the App Store and Google Alerts)
and compares the database with the one an uninterrupted run produced.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from earful.demo import DEMO_ENV, DemoServer, demo_config

EARFUL = str(Path(sys.executable).parent / "earful")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server():
    # Data ends two hours ago: every run below sees the same closed buckets with data.
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    with DemoServer(end - dt.timedelta(hours=2)) as srv:
        yield srv


def workspace(server, path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    config = path / "config.toml"
    config.write_text(demo_config(server.url, path))
    return config


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    out.update(DEMO_ENV)
    return out


def start(config: Path) -> subprocess.Popen:
    return subprocess.Popen([EARFUL, "run", "--config", str(config)], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def run(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([EARFUL, "run", "--config", str(config)], env=env(),
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def snapshot(folder: Path, data_end: str) -> dict:
    """Everything a user would compare: rows by id, scores, episodes, alerts, emails."""
    conn = sqlite3.connect(folder / "earful.db")
    q = lambda sql: sorted(conn.execute(sql).fetchall())  # noqa: E731
    snap = {
        "mentions": q("SELECT id, brand, title, body, rating, deleted, created_at FROM mentions"),
        "duplicate_ids": q("SELECT id FROM mentions GROUP BY id HAVING count(*) > 1"),
        "scores": q("SELECT mention_id, version, label, score FROM scores"),
        "episodes": q("SELECT id, status, opened_at, closed_at, count FROM episodes"),
        "alerts": q("SELECT id, kind, status, message_id FROM alerts"),
        "buckets": q(f"SELECT * FROM buckets WHERE bucket_at < '{data_end}'"),
        "daily_counts": q("SELECT * FROM daily_counts"),
        "fts": q("SELECT count(*) FROM mentions_fts"),
        "integrity": q("PRAGMA integrity_check"),
        "emails": sorted(p.name for p in (folder / "outbox").glob("*.eml")),
        "cursors": q("SELECT brand, source, target FROM cursors"),
    }
    conn.close()
    return snap


@pytest.fixture(scope="module")
def reference(server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    config = workspace(server, folder)
    started = time.monotonic()
    result = run(config)
    duration = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    data_end = max(i.created for i in server.catalog.items).strftime("%Y-%m-%dT%H:00:00Z")
    snap = snapshot(folder, data_end)
    assert len(snap["mentions"]) > 2000 and snap["episodes"] and snap["emails"]
    return {"snapshot": snap, "duration": duration, "data_end": data_end, "config": config}


def test_second_run_adds_nothing_and_exits_0(reference):
    config = reference["config"]
    again = run(config)
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""
    after = snapshot(config.parent, reference["data_end"])
    assert after == reference["snapshot"]
    conn = sqlite3.connect(config.parent / "earful.db")
    last = conn.execute("SELECT new_mentions, scored, episodes_opened, alerts_sent, status "
                        "FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    assert last == (0, 0, 0, 0, "ok")


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95])
def test_sigkill_at_any_point_then_a_normal_run_equals_an_uninterrupted_run(
        server, reference, tmp_path, fraction):
    config = workspace(server, tmp_path / "w")
    proc = start(config)
    time.sleep(reference["duration"] * fraction)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    result = run(config)
    assert result.returncode == 0, result.stderr
    assert snapshot(config.parent, reference["data_end"]) == reference["snapshot"]
    conn = sqlite3.connect(config.parent / "earful.db")
    statuses = [r[0] for r in conn.execute("SELECT status FROM runs ORDER BY id")]
    assert statuses[-1] == "ok" and "running" not in statuses


def test_killed_twice_in_a_row_still_converges(server, reference, tmp_path):
    config = workspace(server, tmp_path / "w")
    for fraction in (0.3, 0.6):
        proc = start(config)
        time.sleep(reference["duration"] * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert run(config).returncode == 0
    assert snapshot(config.parent, reference["data_end"]) == reference["snapshot"]


def test_two_runs_started_at_the_same_moment(server, reference, tmp_path):
    config = workspace(server, tmp_path / "w")
    first, second = start(config), start(config)
    results = [p.communicate(timeout=300) + (p.returncode,) for p in (first, second)]
    assert [r[2] for r in results] == [0, 0], results
    assert snapshot(config.parent, reference["data_end"]) == reference["snapshot"]


def test_a_dead_source_fails_alone_exit_1_and_status_says_why(server, tmp_path):
    config = workspace(server, tmp_path / "w")
    config.write_text(config.read_text() + f'''
[[brands.sources]]
type = "feed"
url = "{server.url}/alerts/feeds/0451/gone"
''')
    result = run(config)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any("/alerts/feeds/0451/gone" in line and "404" in line for line in lines), lines
    assert lines[-1].startswith("earful: 1 problem(s) in run 1")
    conn = sqlite3.connect(config.parent / "earful.db")
    kinds = dict(conn.execute("SELECT source, count(*) FROM mentions GROUP BY source"))
    assert set(kinds) == {"reddit", "hackernews", "trustpilot", "appstore", "feed"}
    assert conn.execute("SELECT status FROM runs").fetchone() == ("partial",)
    status = subprocess.run([EARFUL, "status", "--config", str(config)], env=env(),
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0
    gone = [i for i, line in enumerate(status.stdout.splitlines()) if "/0451/gone" in line]
    assert gone, status.stdout
    following = status.stdout.splitlines()[gone[0] + 1]
    assert "last error" in following and "404" in following
