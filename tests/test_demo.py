"""The README's first quick-start command, as a newcomer runs it."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_datasette import free_port

EARFUL = str(Path(sys.executable).parent / "earful")
pytestmark = pytest.mark.slow


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}


def test_demo_no_serve_leaves_a_database_an_episode_and_an_email(tmp_path):
    result = subprocess.run([EARFUL, "demo", "--no-serve", "--dir", str(tmp_path / "demo")],
                            capture_output=True, text=True, env=clean_env(), timeout=600,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    db = sqlite3.connect(tmp_path / "demo" / "earful.db")
    kinds = dict(db.execute("SELECT source, count(*) FROM mentions GROUP BY source"))
    assert len(kinds) >= 4, kinds
    assert sum(kinds.values()) > 2000
    assert db.execute("SELECT count(*) FROM episodes").fetchone()[0] >= 1
    emails = list((tmp_path / "demo" / "outbox").glob("*.eml"))
    assert emails
    # The printed paths are where the files really are.
    assert str((tmp_path / "demo" / "outbox").resolve()) in out
    assert all(str(p) in out for p in emails)
    assert "Episode opened" in out
    # "What people complain about this week" is filled by the run's publish stage.
    terms = [t for (t,) in db.execute("SELECT term FROM complaint_terms ORDER BY rank LIMIT 8")]
    assert "refund" in terms and "charged twice" in terms, terms
    # Running it again starts from scratch (one run, not two) and gives the same picture.
    # The data ends "now", so an hour boundary between the runs may shift a few items.
    again = subprocess.run([EARFUL, "demo", "--no-serve", "--dir", str(tmp_path / "demo")],
                           capture_output=True, text=True, env=clean_env(), timeout=600,
                           stdin=subprocess.DEVNULL)
    assert again.returncode == 0
    db2 = sqlite3.connect(tmp_path / "demo" / "earful.db")
    assert db2.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    kinds2 = dict(db2.execute("SELECT source, count(*) FROM mentions GROUP BY source"))
    assert set(kinds2) == set(kinds)
    assert all(abs(kinds2[k] - kinds[k]) <= 0.05 * kinds[k] + 2 for k in kinds), (kinds, kinds2)
    assert db2.execute("SELECT count(*) FROM episodes WHERE series = 'all'").fetchone() == (1,)


def test_demo_serves_datasette_at_the_printed_url(tmp_path):
    port = free_port()
    proc = subprocess.Popen([EARFUL, "demo", "--dir", str(tmp_path / "demo"), "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=clean_env(), stdin=subprocess.DEVNULL)
    try:
        url, lines = None, []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"Datasette: (http://127\.0\.0\.1:\d+/)", line)
            url = match.group(1) if match else None
        assert url == f"http://127.0.0.1:{port}/", "".join(lines)
        for _ in range(150):
            try:
                with urllib.request.urlopen(url + "earful/mentions.json?_size=1", timeout=1) as r:
                    data = json.load(r)
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("Datasette never answered at " + url)
        assert data["filtered_table_rows_count"] > 2000
        with urllib.request.urlopen(url + "earful/episodes.json", timeout=5) as r:
            assert json.load(r)["rows"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
