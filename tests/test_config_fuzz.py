"""A careless or hostile config: every numeric setting at 0, -1, nan, inf and a huge value,
every string with a line break. Each gets one line naming the file and the key and exit 2,
or is accepted with a documented meaning (config.RANGES); none of the accepted ones
silences the demo storm's alert."""

from __future__ import annotations

import copy
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from earful import config as cfg
from earful import db as store
from tests.conftest import BASE_CONFIG, NOW
from tests.test_stages import demo_mentions, run_stages

EARFUL = str(Path(sys.executable).parent / "earful")
FUZZ = [0, -1, math.nan, math.inf, 1e9]
BAD_TEXT = "x\r\nBcc: attacker@evil.example"

BASE = {
    "alerts": {"recipients": ["lead@example.com"], "sender": "earful@example.com"},
    "smtp": {"host": "mail.example"},
    "brands": [{"name": "Acme", "keywords": ["acme"],
                "sources": [{"type": "feed", "url": "https://example.com/feed.xml"}]}],
}


def numeric_keys() -> list[tuple[str, str]]:
    return [(section, key) for section, schema in cfg.SECTIONS.items()
            for key, (expected, _, _) in schema.items() if expected in (cfg.INT, cfg.FLOAT)]


def with_value(section: str, key: str, value: object) -> dict:
    raw = copy.deepcopy(BASE)
    raw.setdefault(section, {})[key] = value
    return raw


def load(raw: dict, path: Path) -> cfg.Config:
    return cfg.parse(raw, path, env={})


def test_every_numeric_setting_is_refused_in_one_line_or_in_range(tmp_path):
    path = tmp_path / "config.toml"
    accepted = []
    for section, key in numeric_keys():
        name = f"{section}.{key}"
        assert name in cfg.RANGES, f"{name} has no documented range"
        expected = cfg.SECTIONS[section][key][0]
        values = FUZZ + [10**9] if expected is cfg.INT else FUZZ
        for value in values:
            try:
                config = load(with_value(section, key, value), path)
            except cfg.ConfigError as exc:
                message = str(exc)
                assert message.startswith(f"{path}: {name}: expected"), message
                assert "\n" not in message and "\r" not in message
                continue
            got = getattr(config, section)[key]
            lo, hi = cfg.RANGES[name]
            assert lo <= got <= hi and math.isfinite(got), (name, value)
            accepted.append((name, value))
    # The fuzz values that have a meaning are the zeros of "none" settings and nothing else.
    assert {v for _, v in accepted} == {0}, accepted
    assert ("detection.false_alarms_per_month", 0) not in accepted
    assert ("detection.bucket_hours", 0) not in accepted


def string_keys() -> list[tuple[list[str], bool]]:
    """(path into the raw config, is a list) for every string setting."""
    paths = []
    for section, schema in cfg.SECTIONS.items():
        for key, (expected, _, _) in schema.items():
            if expected is cfg.STR:
                paths.append(([section, key], False))
    paths.append((["alerts", "recipients"], True))
    for key, (expected, _, _) in cfg.BRAND_KEYS.items():
        if expected in (cfg.STR, cfg.LIST) and key != "sources":
            paths.append((["brands", 0, key], expected is cfg.LIST))
    for kind, schema in cfg.SOURCE_KEYS.items():
        for key, (expected, _, _) in schema.items():
            if expected in (cfg.STR, cfg.LIST):
                paths.append((["brands", 0, "sources", kind, key], expected is cfg.LIST))
    return paths


def test_every_string_with_a_line_break_is_refused_in_one_line(tmp_path):
    path = tmp_path / "config.toml"
    checked = 0
    for where, is_list in string_keys():
        raw = copy.deepcopy(BASE)
        target = raw
        if where[:3] == ["brands", 0, "sources"]:
            kind = where[3]
            source = {"type": kind, **{k: "x" for k, (_, d, _) in cfg.SOURCE_KEYS[kind].items()
                                       if d is cfg.REQUIRED}}
            raw["brands"][0]["sources"] = [source]
            target, key = source, where[4]
        else:
            for step in where[:-1]:
                target = target.setdefault(step, {}) if isinstance(step, str) else target[step]
            key = where[-1]
        target[key] = [BAD_TEXT] if is_list else BAD_TEXT
        with pytest.raises(cfg.ConfigError) as info:
            load(raw, path)
        message = str(info.value)
        assert message.startswith(str(path)) and "\n" not in message, message
        assert str(key) in message, (where, message)
        checked += 1
    assert checked > 40


@pytest.mark.parametrize("value, expected", [
    ([1, 2], "alerts.recipients: expected a list of non-empty strings, found 1"),
    (["lead@example.com, other@example.com"], "alerts.recipients[0]: expected one email"),
    (["nobody"], "alerts.recipients[0]: expected one email address, got 'nobody'"),
])
def test_recipients_must_be_addresses(tmp_path, value, expected):
    raw = with_value("alerts", "recipients", value)
    with pytest.raises(cfg.ConfigError, match=re.escape(expected)):
        load(raw, tmp_path / "config.toml")


@pytest.mark.parametrize("extra, key", [
    ("[detection]\nbucket_hours = 0\n", "detection.bucket_hours"),
    ("[detection]\nfalse_alarms_per_month = nan\n", "detection.false_alarms_per_month"),
    ("[detection]\nfalse_alarms_per_month = 1e9\n", "detection.false_alarms_per_month"),
    ("[http]\nmax_retry_after_seconds = inf\n", "http.max_retry_after_seconds"),
    ("[alerts]\nrecipients = [1, 2]\n", "alerts.recipients"),
])
def test_the_cli_says_one_line_and_exits_2(tmp_path, extra, key):
    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path, extra))
    result = subprocess.run([EARFUL, "run", "--config", str(path)], capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: {key}"), result.stderr
    assert not (tmp_path / "earful.db").exists()  # nothing was written


def config_text(tmp_path: Path, extra: str) -> str:
    """conftest's config with ``extra`` ("[table]\nkey = value\n") merged in."""
    text = BASE_CONFIG.format(db=tmp_path / "earful.db", outbox=tmp_path / "outbox")
    table, line = extra.strip().split("\n", 1)
    key = line.split(" = ", 1)[0]
    text = re.sub(rf"^{key} = .*\n", "", text, flags=re.M)  # a key is given once
    if table + "\n" in text:  # and a table too: add the key to it
        return text.replace(table + "\n", extra)
    return extra + text


def test_a_brand_name_with_a_line_break_is_refused(tmp_path):
    raw = with_value("alerts", "sender", "earful@example.com")
    raw["brands"] = [dict(BASE["brands"][0], name="Acme\r\nBcc: attacker@evil.example")]
    with pytest.raises(cfg.ConfigError, match=r"brands\[0\]\.name: a line break"):
        load(raw, tmp_path / "config.toml")


def accepted_extremes() -> list[str]:
    """Every detection and alert setting at the ends of its range, and the fuzz values
    that are accepted (the zeros), as [detection] / [alerts] / [earful] lines."""
    out = []
    for name, (lo, hi) in cfg.RANGES.items():
        section, key = name.split(".")
        if section in ("detection", "alerts"):
            out += [f"{section}.{key} = {lo!r}", f"{section}.{key} = {hi!r}"]
    out += ["earful.score_workers = 0", "detection.min_source_mentions_per_day = 0"]
    return sorted(set(out))


@pytest.mark.slow
@pytest.mark.parametrize("setting", accepted_extremes())
def test_no_accepted_setting_silences_the_demo_storm(tmp_path, setting):
    dotted, value = setting.split(" = ")
    section, key = dotted.split(".")
    text = config_text(tmp_path, f"[{section}]\n{key} = {value}\n")
    path = tmp_path / "config.toml"
    path.write_text(text)
    config = cfg.load(path, need_secrets=False)
    db = store.connect(config.database)
    try:
        with db.atomic():
            store.save_mentions(db, "Larkspur", demo_mentions(NOW), run_id=1)
        _, opened, sent, failures = run_stages(db, config)
        assert failures == []
        storm = db.execute("SELECT count(*) FROM episodes WHERE series = 'all' AND "
                           "opened_at >= '2026-11-20'").fetchone()[0]
        assert storm == 1, setting
        assert sent >= 1, setting
    finally:
        db.close()
