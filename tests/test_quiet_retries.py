"""A cron run that succeeds prints nothing, even when a source needed a retry on the way
(cron mails whatever reaches stderr)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from earful.demo import DEMO_ENV, DemoServer, demo_config, make_handler

EARFUL = str(Path(sys.executable).parent / "earful")
pytestmark = pytest.mark.slow


def test_a_reddit_retry_that_works_leaves_stderr_empty(tmp_path):
    dropped: list[str] = []
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    with DemoServer(end - dt.timedelta(hours=2)) as demo:
        base = make_handler(demo.catalog)

        class DropsOnce(base):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = urllib.parse.urlparse(self.path).path
                if path.endswith("/new") and not dropped:  # the connection dies once
                    dropped.append(path)
                    self.close_connection = True
                    return
                super().do_GET()

        demo.httpd.RequestHandlerClass = DropsOnce
        config = tmp_path / "config.toml"
        config.write_text(demo_config(demo.url, tmp_path))
        env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
        quiet = subprocess.run([EARFUL, "run", "--config", str(config)], capture_output=True,
                               text=True, env={**env, **DEMO_ENV}, timeout=600,
                               stdin=subprocess.DEVNULL)
        assert dropped, "the server never dropped a connection"
        assert quiet.returncode == 0, quiet.stderr
        assert quiet.stderr == "", quiet.stderr
        dropped.clear()
        told = subprocess.run([EARFUL, "run", "-v", "--config", str(config)],
                              capture_output=True, text=True, env={**env, **DEMO_ENV},
                              timeout=600, stdin=subprocess.DEVNULL)
        assert told.returncode == 0
        assert "Retrying due to ConnectionError" in told.stderr, told.stderr[-2000:]
