"""One writer at a time: an advisory lock beside the database file.

``flock`` is released by the kernel when the process dies, even by SIGKILL, so a killed
run never leaves a stale lock behind for cron to trip over.

The file holds the pid of the run holding it and, when a run could not record its own end
in the database (the database was locked or full), one line saying how it ended, so the next
run and `earful status` can tell the truth about it.
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
        self.previous = ""  # what the last holder left: its pid and maybe a note


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
        self.previous = os.pread(fd, 4096, 0).decode(errors="replace")
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def note(self, text: str) -> None:
        """Leave one line for the next holder (after the pid), e.g. how this run ended."""
        if self._fd is not None:
            line = f"{os.getpid()}\n{' '.join(text.split())}"
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, line.encode(errors="replace")[:4000], 0)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def read_note(db_path: str | Path) -> str:
    """The note a run left beside the database ("" if none), without taking the lock."""
    try:
        text = Path(f"{db_path}.lock").read_text(errors="replace")
    except OSError:
        return ""
    return text.partition("\n")[2].strip()


def is_held(db_path: str | Path) -> bool:
    """Whether a run holds the lock right now (a non-blocking try)."""
    try:
        fd = os.open(Path(f"{db_path}.lock"), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False
