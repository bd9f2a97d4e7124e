"""Start Datasette on the live database, with the repository's metadata.yml."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import db as store

# Settings on purpose (see metadata.yml): facet suggestions are what make big tables slow.
SETTINGS = {
    "suggest_facets": "off",
    "facet_time_limit_ms": "1000",
    "sql_time_limit_ms": "3000",
    "default_page_size": "50",
}


def metadata_path() -> Path | None:
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "metadata.yml", here / "metadata.yml"):
        if candidate.exists():
            return candidate
    return None


def datasette_args(database: str | Path, host: str, port: int) -> list[str]:
    args = [sys.executable, "-m", "datasette", "serve", str(database), "--host", host,
            "--port", str(port)]
    meta = metadata_path()
    if meta:
        args += ["--metadata", str(meta)]
    for key, value in SETTINGS.items():
        args += ["--setting", key, value]
    return args


def serve_forever(database: str | Path, host: str, port: int) -> None:
    store.connect(database).close()  # create / migrate first so Datasette sees every table
    args = datasette_args(database, host, port)
    print(f"Serving {database} at http://{host}:{port}/ (Ctrl-C to stop)", file=sys.stderr,
          flush=True)
    os.execv(args[0], args)
