"""What a marketer sees: metadata.yml matches the schema; a real `earful serve` answers."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from earful import db as store
from tests.conftest import ROOT, make_config
from tests.test_stages import demo_mentions

METADATA = yaml.safe_load((ROOT / "metadata.yml").read_text())


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    from earful import pipeline
    from earful.alerts import alert_stage

    # The canned queries ask about "the last 24 hours": the data must end now, not on NOW.
    now = dt.datetime.now(dt.UTC)
    tmp = tmp_path_factory.mktemp("ds")
    config = make_config(tmp)
    db = store.connect(config.database)
    with db.atomic():
        store.save_mentions(db, "Larkspur", demo_mentions(now), run_id=1)
    pipeline.score(db, config, show_progress=False)
    pipeline.detect(db, config, now=now)
    alert_stage(db, config)
    pipeline.publish(db)
    yield config, db
    db.close()


def test_metadata_names_only_tables_and_columns_that_exist(populated):
    _, db = populated
    database = METADATA["databases"]["earful"]
    names = set(db.table_names()) | set(db.view_names())
    for table, meta in database["tables"].items():
        assert table in names, f"metadata.yml describes missing table {table}"
        columns = {c.name for c in (db.table(table) if table in db.table_names()
                                    else db.view(table)).columns}
        for column in meta.get("columns", {}):
            assert column in columns, f"{table}.{column} in metadata.yml does not exist"
        for facet in meta.get("facets", []):
            assert facet in columns, f"facet {table}.{facet} does not exist"
        if "sort_desc" in meta:
            assert meta["sort_desc"] in columns


def test_every_user_table_is_described(populated):
    _, db = populated
    described = set(METADATA["databases"]["earful"]["tables"])
    internal = {t for t in db.table_names() if t.startswith("mentions_fts")}
    assert set(db.table_names()) - internal - described == set()


@pytest.mark.parametrize("name", sorted(METADATA["databases"]["earful"]["queries"]))
def test_canned_queries_run_on_real_rows(populated, name):
    _, db = populated
    sql = METADATA["databases"]["earful"]["queries"][name]["sql"]
    episode = db.execute("SELECT id FROM episodes LIMIT 1").fetchone()
    params = {"brand": "", "episode": episode[0] if episode else ""}
    rows = db.execute(sql, params).fetchall()
    if name in ("source_health",):
        return  # no collector ran in this fixture
    if name in ("open_episodes", "episode_evidence") and not episode:
        pytest.skip("no episode in the fixture")
    assert rows, f"{name} returned nothing on the demo data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_earful_serve_starts_a_real_datasette_on_localhost(populated, tmp_path):
    config, _ = populated
    port = free_port()
    earful = str(Path(sys.executable).parent / "earful")
    cfg_path = tmp_path / "serve.toml"
    cfg_path.write_text(f'[earful]\ndatabase = "{config.database}"\n[serve]\nport = {port}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    proc = subprocess.Popen([earful, "serve", "--config", str(cfg_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{base}/-/versions.json", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        with urllib.request.urlopen(f"{base}/earful/mentions.json?_shape=objects&_size=5",
                                    timeout=5) as resp:
            data = json.load(resp)
        assert len(data["rows"]) == 5
        assert data["rows"][0]["created_at"] >= data["rows"][-1]["created_at"]  # newest first
        with urllib.request.urlopen(f"{base}/-/metadata.json", timeout=5) as resp:
            assert json.load(resp)["title"].startswith("earful")
        with urllib.request.urlopen(f"{base}/earful/mentions.json?_search=charged&_size=1",
                                    timeout=5) as resp:
            assert json.load(resp)["filtered_table_rows_count"] > 0
        with urllib.request.urlopen(f"{base}/earful/negative_last_7d.json?brand=", timeout=5):
            pass
        with urllib.request.urlopen(f"{base}/-/settings.json", timeout=5) as resp:
            assert json.load(resp)["suggest_facets"] is False
        # Bound to loopback only.
        out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
        if out:
            listening = [line for line in out.splitlines() if f":{port} " in line]
            assert listening and all("127.0.0.1:" in line for line in listening), listening
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert f"http://127.0.0.1:{port}" in proc.stderr.read()
