"""Rows as dicts: the one helper the notification modules share for reading the store."""

from __future__ import annotations

from typing import Any

import sqlite_utils


def rows(db: sqlite_utils.Database, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = db.execute(sql, params)
    names = [c[0] for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
