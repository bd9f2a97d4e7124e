"""Test helpers shared by several test modules: a tiny local web site and headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--disable-quic", "--hide-scrollbars"]


def _installed(program: str, package: str) -> str:
    """The program's path, installing Debian's package first where it is missing."""
    if not shutil.which(program) and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update"], capture_output=True, timeout=300)
        subprocess.run(["apt-get", "install", "-y", package], capture_output=True,
                       timeout=600)
    path = shutil.which(program)
    if not path:
        pytest.skip(f"{program} is not installed and `apt-get install {package}` could not "
                    "install it here (needs root and Debian's package archive)")
    return path


def chromium() -> str:
    return shutil.which("chromium-browser") or _installed("chromium", "chromium")


def chromedriver() -> str:
    """Debian's chromedriver (package chromium-driver), matching its Chromium."""
    chromium()
    return _installed("chromedriver", "chromium-driver")


class Site:
    """A tiny local web site: path -> (status, content type, body); records every request."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.hits: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                site.hits.append(self.path)
                path = urllib.parse.urlsplit(self.path).path.rstrip("/") or "/"
                status, ctype, body = site.routes.get(path, (404, "text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._answer()

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def route(self, path: str, body: str | bytes, ctype: str = "text/html; charset=utf-8",
              status: int = 200) -> None:
        self.routes[path] = (status, ctype, body.encode() if isinstance(body, str) else body)

    def __enter__(self) -> Site:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
