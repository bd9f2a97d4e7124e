"""The fault suite: real `earful run` processes killed at chosen stages, overlapping runs,
a live Datasette reader, a locked database, misbehaving sources, broken config, a
read-only and a full disk.

Kills here are aimed, not timed (test_crash_safety.py kills at fractions of a run):
- by the demo server, which SIGKILLs the run while it waits for a chosen request;
- by an SMTP server that SIGKILLs it after accepting DATA, before the run can record it;
- by a launcher that wraps one function of the real code in the child process and
  SIGKILLs the process at its Nth call (test code only; nothing in the app knows).
After every kill, a normal run must leave the database an uninterrupted run leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from earful import db as store
from earful.demo import FEED_PATH, TRUSTPILOT_PATH
from earful.pipeline import SCORE_BATCH
from tests import test_crash_safety as crash
from tests.conftest import ROOT
from tests.test_crash_safety import EARFUL, env, run, snapshot, start, workspace

# The crash tests' fixtures, shared: one demo server and one uninterrupted reference run.
server = crash.server
reference = crash.reference

pytestmark = pytest.mark.slow


# --- aiming at a request: the demo server with a hook ----------------------------------
@pytest.fixture
def hook(server):
    """``hook(fn)``: fn(handler, path, query) runs before the demo answers a GET or POST;
    True = handled."""
    original = server.httpd.RequestHandlerClass

    def install(fn) -> None:
        class Hooked(original):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parsed = urllib.parse.urlparse(self.path)
                if not fn(self, parsed.path, dict(urllib.parse.parse_qsl(parsed.query))):
                    super().do_GET()

            def do_POST(self) -> None:  # noqa: N802 - fn reads the body if it answers
                parsed = urllib.parse.urlparse(self.path)
                if not fn(self, parsed.path, dict(urllib.parse.parse_qsl(parsed.query))):
                    super().do_POST()

        server.httpd.RequestHandlerClass = Hooked

    yield install
    server.httpd.RequestHandlerClass = original


def counts(folder: Path) -> dict[str, int]:
    """Where a run got to: rows per table, per source, alert statuses, .eml files."""
    conn = sqlite3.connect(folder / "earful.db")
    out = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (
        "mentions", "scores", "buckets", "episodes", "alerts", "cursors", "daily_counts",
        "complaint_terms")}
    out.update({f"source:{s}": n for s, n in conn.execute(
        "SELECT source, count(*) FROM mentions GROUP BY source")})
    out.update({f"alerts:{s}": n for s, n in conn.execute(
        "SELECT status, count(*) FROM alerts GROUP BY status")})
    conn.close()
    out["emails"] = len(list((folder / "outbox").glob("*.eml")))
    return out


def reference_counts(reference) -> dict[str, int]:
    snap = reference["snapshot"]
    by_source: dict[str, int] = {}
    for row in snap["mentions"]:
        source = row[0].split(":", 1)[0]
        by_source[source] = by_source.get(source, 0) + 1
    return {"mentions": len(snap["mentions"]), "scores": len(snap["scores"]),
            **{f"source:{s}": n for s, n in by_source.items()}}


def converges(config: Path, reference) -> None:
    """A normal run after the kill completes it: same rows, ids, emails as uninterrupted."""
    result = run(config)
    assert result.returncode == 0, result.stderr
    assert snapshot(config.parent, reference["data_end"]) == reference["snapshot"]
    conn = sqlite3.connect(config.parent / "earful.db")
    statuses = [r[0] for r in conn.execute("SELECT status FROM runs ORDER BY id")]
    conn.close()
    assert statuses[-1] == "ok" and "killed" in statuses and "running" not in statuses


@pytest.mark.parametrize("name, path, page", [
    ("collect: inside a paged target (Trustpilot page 12)", TRUSTPILOT_PATH, "12"),
    ("collect: the last source (the feed), all others done", FEED_PATH, None),
])
def test_sigkill_while_waiting_for_a_chosen_request(server, reference, hook, tmp_path, name,
                                                   path, page):
    config = workspace(server, tmp_path / "w")
    pid: list[int] = []

    def kill(handler, req_path, query) -> bool:
        if pid and req_path == path and (page is None or query.get("page") == page):
            os.kill(pid.pop(), signal.SIGKILL)  # the run is blocked on this very request
            return True
        return False

    hook(kill)
    proc = start(config)
    pid.append(proc.pid)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, name
    at_death, ref = counts(config.parent), reference_counts(reference)
    if path == TRUSTPILOT_PATH:  # earlier sources complete, Trustpilot's target unfinished
        assert at_death["source:reddit"] == ref["source:reddit"]
        # Its 11 fetched pages (220 reviews) are one uncommitted batch (pipeline.BATCH is
        # 5,000): the kill loses them, the next run fetches them again.
        assert at_death.get("source:trustpilot", 0) < ref["source:trustpilot"]
        assert at_death["cursors"] < len(reference["snapshot"]["cursors"])
    else:
        assert at_death["source:appstore"] == ref["source:appstore"]
        assert "source:feed" not in at_death
    assert at_death["scores"] == 0
    converges(config, reference)


KILL_AT = """
import importlib, os, signal, sys
module, attribute, nth, when = sys.argv[1:5]
target = importlib.import_module(module)
real = getattr(target, attribute)
calls = [0]
def wrapped(*args, **kwargs):
    calls[0] += 1
    hit = calls[0] == int(nth)
    if hit and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    out = real(*args, **kwargs)
    if hit:
        os.kill(os.getpid(), signal.SIGKILL)
    return out
setattr(target, attribute, wrapped)
from earful.cli import cli
cli(args=sys.argv[5:], prog_name="earful")
"""

# (module, function, its Nth call, before/after it, what the database holds at death)
STAGE_KILLS = {
    "collect: rows committed, cursor not": (
        "earful.db", "save_cursor", 1, "before",
        lambda c, r: 0 < c["mentions"] < r["mentions"] and c["cursors"] == 0),
    "score: second batch, first committed": (
        # Ten texts into the second batch: the demo always has more than SCORE_BATCH + 10.
        "analysis.sentiment", "analyze", SCORE_BATCH + 10, "before",
        lambda c, r: c["mentions"] == r["mentions"] and 0 < c["scores"] < r["scores"]),
    "detect: inside the episode transaction": (
        "earful.pipeline", "_record_event", 1, "before",
        lambda c, r: c["scores"] == r["scores"] and c["buckets"] == c["episodes"] == 0),
    "detect: episode inserted, alert not queued": (
        "earful.notify.outbox", "queue_alert", 1, "before",
        lambda c, r: c["episodes"] == 0 and c["alerts"] == 0),
    "alert: .eml written, not recorded as sent": (
        "earful.notify.mail", "write_eml", 1, "after",
        lambda c, r: c["emails"] == 1 and c.get("alerts:sending") == 1),
    "publish: alerts sent, complaint terms not published": (
        # detect keeps daily_counts current itself; publish adds the complaint terms
        "earful.pipeline", "publish", 1, "before",
        lambda c, r: c["alerts"] == c.get("alerts:sent") and c["daily_counts"] > 0
        and c["complaint_terms"] == 0),
}


@pytest.mark.parametrize("name", list(STAGE_KILLS))
def test_sigkill_at_a_chosen_stage_then_a_normal_run_equals_an_uninterrupted_run(
        server, reference, tmp_path, name):
    module, attribute, nth, when, where = STAGE_KILLS[name]
    config = workspace(server, tmp_path / "w")
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AT, module, attribute, str(nth), when, "run", "--config",
         str(config)], env=env(), cwd=ROOT, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    at_death = counts(config.parent)
    assert where(at_death, reference_counts(reference)), (name, at_death)
    converges(config, reference)


# --- between sending and recording: the SMTP server kills the run ------------------------
def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class KillingInbox:
    """Accepts every message; SIGKILLs ``pid`` after storing the first, before answering."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.pid: int | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope.original_content or envelope.content)
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
            self.pid = None
            await asyncio.sleep(0.5)  # let the kernel reap it before anything is answered
        return "250 OK"


def without_emails(snap: dict) -> dict:
    return {k: v for k, v in snap.items() if k != "emails"}


def test_killed_between_smtp_accept_and_recording_the_reader_sees_one_message_per_id(
        server, reference, tmp_path):
    inbox, port = KillingInbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = workspace(server, tmp_path / "w")
        config.write_text(config.read_text() + f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\n'
                          'security = "none"\ntimeout = 10\n')
        proc = start(config)
        inbox.pid = proc.pid
        proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL
        assert len(inbox.messages) == 1
        conn = sqlite3.connect(config.parent / "earful.db")
        assert conn.execute("SELECT count(*) FROM alerts WHERE status = 'sending'"
                            ).fetchone()[0] == 1
        conn.close()
        again = run(config)
        assert again.returncode == 0, again.stderr
        assert run(config).returncode == 0  # and a third run sends nothing more
    finally:
        controller.stop()
    after = snapshot(config.parent, reference["data_end"])
    assert without_emails(after) == without_emails(reference["snapshot"])
    received = [email.message_from_bytes(m, policy=policy.default)["Message-ID"]
                for m in inbox.messages]
    expected = {row[3] for row in reference["snapshot"]["alerts"]}
    # The documented window: the message in flight is sent again, under the same
    # Message-ID, so mail clients show it once. Nothing else is sent twice.
    assert set(received) == expected
    assert len(received) == len(expected) + 1
    assert all(row[2] == "sent" for row in after["alerts"])


# --- overlapping runs and a reader ------------------------------------------------------
def test_a_run_started_while_another_is_stuck_waits_then_skips_with_exit_0(
        server, reference, hook, tmp_path):
    config = workspace(server, tmp_path / "w")
    config.write_text(config.read_text().replace("[earful]\n",
                                                 "[earful]\nlock_wait_seconds = 1\n"))
    entered, release = threading.Event(), threading.Event()

    def hold(handler, path, query) -> bool:
        if path == TRUSTPILOT_PATH and query.get("page") == "2":
            entered.set()
            release.wait(60)  # the first run is stuck on the network, holding the lock
        return False

    hook(hold)
    first = start(config)
    try:
        assert entered.wait(60), "the first run never reached Trustpilot page 2"
        second = run(config)
        assert second.returncode == 0
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"another earful run (pid {first.pid}) is using" in lines[0]
        assert lines[0].endswith("this run skipped")
    finally:
        release.set()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert snapshot(config.parent, reference["data_end"]) == reference["snapshot"]
    conn = sqlite3.connect(config.parent / "earful.db")
    assert conn.execute("SELECT count(*), min(status) FROM runs").fetchone() == (1, "ok")
    conn.close()


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(url: str, proc: subprocess.Popen) -> None:
    for _ in range(150):
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            http_get(url)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def test_datasette_keeps_answering_while_a_run_writes(server, reference, tmp_path):
    config = workspace(server, tmp_path / "w")
    port = free_port()
    config.write_text(config.read_text().replace("port = 8001", f"port = {port}"))
    serving = subprocess.Popen([EARFUL, "serve", "--config", str(config)], env=env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    pages = ["/earful", "/earful/mentions.json?_size=5&_sort_desc=created_at",
             "/earful/mentions_view?_size=20", "/earful/episodes.json",
             "/earful/negative_last_7d.json?brand=", "/-/dashboards/negatives"]
    try:
        wait_for(f"{base}/-/versions.json", serving)
        proc = start(config)
        answers, during = [], 0
        while proc.poll() is None:
            for page in pages:
                answers.append((page, http_get(base + page)[0]))
            during += 1
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert during >= 2, "the run finished before Datasette was asked twice"
        assert [a for a in answers if a[1] != 200] == []
        status, body = http_get(f"{base}/earful/mentions.json?_size=1")
        assert status == 200
        assert json.loads(body)["filtered_table_rows_count"] == \
            len(reference["snapshot"]["mentions"])
    finally:
        serving.terminate()
        serving.wait(timeout=10)
    assert snapshot(config.parent, reference["data_end"]) == reference["snapshot"]


# --- a database another writer holds past the busy timeout -------------------------------
def test_a_database_locked_past_the_busy_timeout_fails_clearly_and_recovers(
        server, reference, tmp_path):
    config = workspace(server, tmp_path / "w")
    database = config.parent / "earful.db"
    store.connect(database).close()
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, for ~20 s (busy timeout: 15 s)
    try:
        proc = start(config)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError("earful run waited past the 15 s busy timeout") from None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    conn = sqlite3.connect(database)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    converges_after_lock = run(config)
    assert converges_after_lock.returncode == 0, converges_after_lock.stderr
    assert snapshot(config.parent, reference["data_end"]) == reference["snapshot"]
    lines = err.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"Error: {database}") and "locked" in lines[0]


# --- every kind of misbehaving source in one run -----------------------------------------
FAULTS = {  # path prefix -> what the "site" does
    "/f429": "429 Too Many Requests, Retry-After: 1",
    "/f503": "503 Service Unavailable",
    "/fslow": "no answer within the read timeout",
    "/fjunk": "200 with bytes that are not a feed",
    "/ftrunc": "200 with JSON cut in the middle",
}


def misbehave(handler, path, query) -> bool:
    prefix = "/" + path.split("/")[1]
    if prefix not in FAULTS:
        return False
    if prefix == "/fslow":
        time.sleep(2.5)
        with contextlib.suppress(OSError):
            handler._send(200, "{}", "application/json")
        return True
    answers = {"/f429": (429, "slow down", "text/plain", {"Retry-After": "1"}),
               "/f503": (503, "<h1>Service Unavailable</h1>", "text/html", {}),
               "/fjunk": (200, b"\x89\x00\xffGIF89a not a feed", "application/atom+xml", {}),
               "/ftrunc": (200, '{"hits": [{"objectID": "1", "title": "Lark', "application/json",
                           {})}
    status, body, ctype, headers = answers[prefix]
    handler._send(status, body, ctype, headers)
    return True


def test_misbehaving_sources_fail_alone_exit_1_and_status_names_each(server, reference, hook,
                                                                     tmp_path):
    config = workspace(server, tmp_path / "w")
    url = server.url
    text = config.read_text().replace("[http]\n", "[http]\nmax_retries = 1\nconnect_timeout = 1\n"
                                      "read_timeout = 1\nmax_retry_after_seconds = 2\n")
    text += f'''
[[brands.sources]]
type = "hackernews"
query = "larkspur outage"
base_url = "{url}/f429"

[[brands.sources]]
type = "hackernews"
query = "larkspur refund"
base_url = "{url}/ftrunc"

[[brands.sources]]
type = "trustpilot"
url = "{url}/f503/review/larkspur.example"

[[brands.sources]]
type = "appstore"
app_id = "1555000123"
countries = ["gb"]
base_url = "{url}/fslow"

[[brands.sources]]
type = "feed"
url = "{url}/fjunk/alerts/feeds/0451/larkspur"
'''
    config.write_text(text)
    hook(misbehave)
    result = run(config)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("earful: 5 problem(s) in run 1"), lines
    # The good sources' data is all there: the same ids as an uninterrupted demo run.
    conn = sqlite3.connect(config.parent / "earful.db")
    stored = {r[0] for r in conn.execute("SELECT id FROM mentions")}
    assert stored == {r[0] for r in reference["snapshot"]["mentions"]}
    assert conn.execute("SELECT status FROM runs").fetchone() == ("partial",)
    bad = conn.execute("SELECT status, count(*) FROM source_runs WHERE status != 'ok' "
                       "GROUP BY status ORDER BY status").fetchall()
    conn.close()
    assert bad == [("error", 4), ("rate_limited", 1)], bad
    status = subprocess.run([EARFUL, "status", "--config", str(config)], env=env(),
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    shown = status.stdout.splitlines()
    expect = {"/f429": "HTTP 429", "/ftrunc": "malformed JSON", "/f503": "HTTP 503",
              "/fslow": "timed out", "/fjunk": "not a feed"}
    for prefix, words in expect.items():
        errors = [line for line in shown if "last error" in line and prefix in line]
        assert len(errors) == 1 and words in errors[0], (prefix, status.stdout)
    flagged = [line for line in shown if line.strip().startswith(("ok ", "!! ", "-- "))]
    assert sum(line.strip().startswith("--") for line in flagged) == 5, status.stdout


# --- a broken config, a broken database --------------------------------------------------
def earful_run(config: Path, *extra: str) -> subprocess.CompletedProcess:
    # cwd: the config's folder, so a relative default path can never land in the repository.
    return subprocess.run([EARFUL, "run", "--config", str(config), *extra], env=env(),
                          cwd=config.parent, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def one_error_line(result: subprocess.CompletedProcess, names: Path, code: int = 2) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {names}"), lines[0]
    return lines[0]


@pytest.mark.parametrize("damage", ["cut in a string", "cut in a key", "binary garbage",
                                    "NUL bytes", "empty"])
def test_a_corrupted_or_truncated_config_exits_2_naming_the_file(server, tmp_path, damage):
    config = workspace(server, tmp_path / "w")
    good = config.read_bytes()
    cut = good.index(b'url = "') + 10
    config.write_bytes({
        "cut in a string": good[:cut],
        "cut in a key": good[:good.index(b"keywords") + 4],
        "binary garbage": b"\xff\xfe\x00\x9c" + good[:200],
        "NUL bytes": b"\x00" * 512,
        "empty": b"",
    }[damage])
    line = one_error_line(earful_run(config), config)
    assert "Traceback" not in line
    # nothing half-written, here or at the default path
    assert not (config.parent / "earful.db").exists() and not (config.parent / "data").exists()


@pytest.mark.parametrize("damage", ["not a database", "truncated"])
def test_a_damaged_database_exits_2_naming_it(server, reference, tmp_path, damage):
    config = workspace(server, tmp_path / "w")
    database = config.parent / "earful.db"
    if damage == "not a database":
        database.write_bytes(b"this is not SQLite\n" * 500)
    else:
        source = sqlite3.connect(reference["config"].parent / "earful.db")
        target = sqlite3.connect(database)
        source.backup(target)
        source.close()
        target.close()
        data = database.read_bytes()
        database.write_bytes(data[:len(data) // 3])
    before = database.read_bytes()
    one_error_line(earful_run(config), database)
    assert database.read_bytes() == before  # left as it was, for the person to look at


# --- read-only and full disks: real mounts (root, here) -----------------------------------
@contextlib.contextmanager
def tmpfs(where: Path, size: str):
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'}): a "
                    "read-only or full disk cannot be simulated; chmod does not stop root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


def on_disk(server, tmp_path: Path, disk: Path) -> Path:
    """The demo config with only the database on ``disk`` (the outbox stays elsewhere)."""
    config = workspace(server, tmp_path / "w")
    config.write_text(config.read_text().replace(
        f'database = "{config.parent / "earful.db"}"', f'database = "{disk / "earful.db"}"'))
    return config


def test_a_read_only_database_folder_exits_2_and_the_next_run_completes(
        server, reference, tmp_path):
    with tmpfs(tmp_path / "disk", "64m") as disk:
        config = on_disk(server, tmp_path, disk)
        database = disk / "earful.db"
        source = sqlite3.connect(reference["config"].parent / "earful.db")
        target = sqlite3.connect(database)
        source.backup(target)  # yesterday's complete database; today the disk is read-only
        source.close()
        target.close()
        before = database.read_bytes()
        remount(disk, "ro")
        line = one_error_line(earful_run(config), disk)
        assert "read-only" in line.lower() or "read only" in line.lower(), line
        assert database.read_bytes() == before
        remount(disk, "rw")
        assert earful_run(config).returncode == 0


def test_a_full_disk_keeps_the_database_sound_and_the_next_run_completes(
        server, reference, tmp_path):
    with tmpfs(tmp_path / "disk", "1m") as disk:
        config = on_disk(server, tmp_path, disk)
        result = earful_run(config)
        assert result.returncode != 0 and "database or disk is full" in result.stderr
        conn = sqlite3.connect(disk / "earful.db")
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM mentions").fetchone()[0] > 0  # it got going
        conn.close()
        remount(disk, "size=256m")  # the operator frees space
        again = earful_run(config)
        assert again.returncode == 0, again.stderr
        conn = sqlite3.connect(disk / "earful.db")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        shutil.copy(disk / "earful.db", config.parent / "earful.db")
    assert snapshot(config.parent, reference["data_end"]) == reference["snapshot"]


def test_a_full_disk_is_reported_in_one_clear_line(server, tmp_path):
    with tmpfs(tmp_path / "disk", "1m") as disk:
        config = on_disk(server, tmp_path, disk)
        result = earful_run(config)
        assert result.returncode in (1, 2), result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) <= 2 and "full" in lines[0] and str(disk) in lines[0], lines
