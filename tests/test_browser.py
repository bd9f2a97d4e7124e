"""A real headless Chromium on a real `earful serve`-style Datasette: what renders.

Screenshots go to the test's temporary folder; set EARFUL_SCREENSHOTS=docs to refresh the
README's docs/datasette-*.png from them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from datasette.utils import tilde_encode

from earful import serve
from tests.conftest import ROOT
from tests.helpers import CHROMIUM_FLAGS, chromium
from tests.test_datasette import free_port, populated  # noqa: F401  (module fixture)


@pytest.fixture(scope="module")
def server(populated):  # noqa: F811
    config, db = populated
    port = free_port()
    proc = subprocess.Popen(serve.datasette_args(config.database, "127.0.0.1", port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "DATASETTE_SECRET": "browser-test"})
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{base}/-/versions.json", timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield base, db
    proc.terminate()
    proc.wait(timeout=10)


def render(url: str, shot: Path, tmp: Path, height: int = 1400) -> str:
    """Load the page, let its scripts run, save a screenshot, return the rendered DOM."""
    exe = chromium()
    common = CHROMIUM_FLAGS + ["--virtual-time-budget=8000", f"--window-size=1280,{height}"]
    dom = subprocess.run([exe, *common, f"--user-data-dir={tmp / 'dom'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120).stdout
    subprocess.run([exe, *common, f"--user-data-dir={tmp / 'shot'}", f"--screenshot={shot}",
                    url], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000, "no screenshot"
    keep = os.environ.get("EARFUL_SCREENSHOTS")
    if keep:
        shutil.copy(shot, ROOT / keep / shot.name)
    return dom


def test_home_page_renders_title_and_links(server, tmp_path):
    base, _ = server
    dom = render(f"{base}/", tmp_path / "datasette-home.png", tmp_path, height=900)
    assert "earful — what people say about our brands" in dom
    assert 'href="/-/dashboards/negatives"' in dom


def test_mentions_page_renders_rows_and_facets(server, tmp_path):
    base, db = server
    dom = render(f"{base}/earful/recent_mentions", tmp_path / "datasette-mentions.png", tmp_path,
                 height=2400)
    for facet in ("brand", "source", "sentiment", "status", "rating"):
        assert f'data-column="{facet}"' in dom, facet
    newest = db.execute("SELECT url FROM mentions ORDER BY created_at DESC LIMIT 1").fetchone()
    assert f'href="{newest[0]}"' in dom


def test_dashboard_draws_its_charts(server, tmp_path):
    base, _ = server
    dom = render(f"{base}/-/dashboards/negatives?days=60", tmp_path / "datasette-charts.png",
                 tmp_path, height=2000)
    # vega-embed replaces each chart's empty div with a drawn canvas (or svg).
    for slug in ("negatives-per-day", "negative-share", "negatives-per-hour", "ratings"):
        start = dom.index(f'id="chart-{slug}"')
        chunk = dom[start:start + 4000]
        assert "vega-embed" in chunk and ("<canvas" in chunk or "<svg" in chunk), slug
    assert "Open and recent episodes" in dom


def test_episode_page_renders_the_episode(server, tmp_path):
    base, db = server
    episode = db.execute("SELECT id, summary FROM episodes ORDER BY opened_at DESC").fetchone()
    dom = render(f"{base}/earful/episodes/{tilde_encode(episode[0])}",
                 tmp_path / "datasette-episode.png", tmp_path, height=1000)
    assert episode[0] in dom
    quoted = urllib.parse.quote(episode[0], safe="")
    evidence = render(f"{base}/earful/episode_evidence?episode={quoted}",
                      tmp_path / "datasette-evidence.png", tmp_path)
    assert "evidence" in evidence and "https://demo.example/" in evidence
