"""The installed `earful` console script, run as a subprocess the way cron runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from earful import config as cfg

EARFUL = str(Path(sys.executable).parent / "earful")
GOOD = """
[earful]
database = "{db}"

[[brands]]
name = "Acme"
keywords = ["acme"]
"""


def earful(*args, env=None, cwd=None, timeout=120):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    full_env.update(env or {})
    return subprocess.run([EARFUL, *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)


def test_every_command_has_help_with_an_example():
    for command in ("init", "run", "collect", "score", "detect", "alert", "publish", "serve",
                    "status", "demo", "backtest"):
        result = earful(command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Example" in result.stdout, command


@pytest.mark.parametrize(
    "config_text, env, expected",
    [
        (GOOD + "\n[[brands.sources]]\ntype = 'feed'\nurll = 'https://x.example/f'\n", {},
         "unknown key 'brands[0].sources[0].urll' (did you mean 'url'?)"),
        (GOOD + "\n[[brands.sources]]\ntype = 'reddit'\n", {},
         "needs the environment variable EARFUL_REDDIT_CLIENT_ID and EARFUL_REDDIT_CLIENT_SECRET"),
    ],
)
def test_config_errors_exit_2_with_one_line(tmp_path, config_text, env, expected):
    path = tmp_path / "config.toml"
    path.write_text(config_text.format(db=tmp_path / "earful.db"))
    result = earful("run", "--config", str(path), env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {path}: ")
    assert expected in lines[0]
    assert not (tmp_path / "earful.db").exists()  # nothing half-written


def test_unreadable_database_path_exits_2_naming_it(tmp_path):
    blocked = tmp_path / "is-a-file"
    blocked.write_text("x")
    path = tmp_path / "config.toml"
    path.write_text(GOOD.format(db=blocked / "sub" / "earful.db"))
    result = earful("run", "--config", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(blocked / "sub") in lines[0], result.stderr


def test_config_and_db_from_environment(tmp_path):
    path = tmp_path / "elsewhere.toml"
    path.write_text(GOOD.format(db=tmp_path / "ignored.db"))
    result = earful("run", env={cfg.ENV_CONFIG: str(path), cfg.ENV_DB: str(tmp_path / "env.db")})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # quiet when all is well: cron mails only on trouble
    assert (tmp_path / "env.db").exists() and not (tmp_path / "ignored.db").exists()


def test_missing_config_exits_2_and_says_how_to_start(tmp_path):
    result = earful("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "config.toml: config file not found" in result.stderr
    assert "earful init" in result.stderr


def test_init_writes_a_config_that_loads_and_refuses_to_overwrite(tmp_path):
    assert earful("init", cwd=tmp_path).returncode == 0
    assert cfg.load(tmp_path / "config.toml").brands[0].name == "Acme"
    again = earful("init", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
