"""Shared fixtures: a config on a real SQLite file in a temporary folder."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from earful import config as cfg

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
# A fixed "now" for data-driven tests: a Monday morning, UTC.
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

BASE_CONFIG = """
[earful]
database = "{db}"
datasette_url = "https://earful.example.com"
lock_wait_seconds = 2

[alerts]
recipients = ["lead@example.com"]
sender = "earful@example.com"
outbox = "{outbox}"

[[brands]]
name = "Larkspur"
keywords = ["larkspur"]
"""


def make_config(tmp_path: Path, extra: str = "", env: dict | None = None) -> cfg.Config:
    text = BASE_CONFIG.format(db=tmp_path / "earful.db", outbox=tmp_path / "outbox") + extra
    path = tmp_path / "config.toml"
    path.write_text(text)
    return cfg.parse(tomllib.loads(text), path, env=env or {})


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path)
