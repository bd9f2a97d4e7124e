"""What an anonymous visitor can do to `earful serve` (benchmarks/datasette/README.md,
"Anonymous visitors").

    .venv/bin/python benchmarks/datasette/anonymous.py /tmp/demo/earful.db [--earful PATH]

Starts `earful serve` (``--earful`` picks which install, e.g. another checkout's
.venv/bin/earful, to compare) with a real team password hash, then:
1. asks ``select length(hex(randomblob(400000000)))`` anonymously: status, seconds and how
   much the server's peak memory (VmHWM) grew;
2. fires ten sign-in attempts at once (wrong password, datasette-auth-passwords' real
   pbkdf2 cost) and, while they run, fetches a page over and over: p50/p95 of the page.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fetch(url: str, data: bytes | None = None, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def sign_in(base: str) -> int:
    with urllib.request.urlopen(base + "/-/login", timeout=60) as resp:
        page = resp.read().decode()
        csrf = re.search(r"ds_csrftoken=([^;]+)", resp.headers["Set-Cookie"])[1]
    token = re.search(r'name="csrftoken" value="([^"]+)"', page)[1]
    body = urllib.parse.urlencode({"username": "team", "password": "a wrong guess",
                                   "csrftoken": token}).encode()
    return fetch(base + "/-/login", body, {"Cookie": f"ds_csrftoken={csrf}"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database")
    parser.add_argument("--earful", default=str(Path(sys.executable).parent / "earful"))
    args = parser.parse_args()
    from datasette_auth_passwords.utils import hash_password

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = Path(f"/tmp/earful-anonymous-{port}.toml")
    config.write_text(f'[earful]\ndatabase = "{args.database}"\n[serve]\nport = {port}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    env["EARFUL_TEAM_PASSWORD_HASH"] = hash_password("the real one")
    proc = subprocess.Popen([args.earful, "serve", "--config", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                fetch(base + "/-/versions.json")
                break
            except OSError:
                time.sleep(0.2)
        page = base + "/earful/mentions_view?_size=5"
        for _ in range(3):
            fetch(page)
        before, start = rss_mb(proc.pid), time.perf_counter()
        sql = urllib.parse.quote("select length(hex(randomblob(400000000)))")
        status = fetch(f"{base}/earful.json?sql={sql}")
        print(f"randomblob: HTTP {status} in {time.perf_counter() - start:.2f} s, peak memory "
              f"+{rss_mb(proc.pid) - before:.0f} MB")

        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(sign_in(base)))
                   for _ in range(10)]
        for thread in threads:
            thread.start()
        times = []
        while any(t.is_alive() for t in threads):
            start = time.perf_counter()
            fetch(page)
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(f"10 sign-ins at once: answers {sorted(results)}; page asked {len(times)} times "
              f"meanwhile, p50 {statistics.median(times):.0f} ms, p95 {p95:.0f} ms, "
              f"max {times[-1]:.0f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        config.unlink()


if __name__ == "__main__":
    main()
