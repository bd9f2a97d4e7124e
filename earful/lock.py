"""One writer at a time: an advisory lock beside the database file.

``flock`` is released by the kernel when the process dies, even by SIGKILL, so a killed
run never leaves a stale lock behind for cron to trip over.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from .db import StoreError


class LockBusy(Exception):
    """Another earful run holds the lock for this database."""


class RunLock:
    def __init__(self, db_path: str | Path, wait_seconds: float = 10.0) -> None:
        self.path = Path(f"{db_path}.lock")
        self.wait_seconds = wait_seconds
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"{self.path.parent}: cannot use the database folder: "
                             f"{exc.strerror}") from None
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise LockBusy(
                        f"another earful run (pid {holder or '?'}) is using "
                        f"{self.path.with_suffix('')}"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
