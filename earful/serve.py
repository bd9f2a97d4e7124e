"""Start Datasette on the live database, with the repository's metadata.yml.

The database is served mutable (not ``-i``): cron writes while Datasette reads, in WAL mode.
Datasette and its plugins read their own environment, which passes through unchanged:
``DATASETTE_SECRET`` signs the sign-in cookies (set it, or every restart signs everyone
out) and ``EARFUL_TEAM_PASSWORD_HASH`` is the team's password hash (metadata.yml, ``$env``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import db as store
from .config import sign_in_problem

# Settings on purpose (measured in benchmarks/datasette/ on a million mentions):
# - facet suggestions scan every column of the table on each page: off.
# - a facet over a million rows takes ~30-80 ms with its index; one that needs more is cut
#   at 300 ms and the page says "These facets timed out" rather than waiting seconds.
# - SQL is cut at 3 s: no canned query or chart comes near it (they read indexes and the
#   small count tables); a cut query shows an error, never a silent partial answer.
# - max_returned_rows stays 1,000: canned queries have no LIMIT of their own, so past it
#   Datasette says "returning more than 1,000 rows" and the JSON says truncated.
SETTINGS = {
    "suggest_facets": "off",
    "facet_time_limit_ms": "300",
    "sql_time_limit_ms": "3000",
    "default_page_size": "50",
    "max_returned_rows": "1000",
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
    problem = sign_in_problem()
    if problem:
        print(f"Warning: {problem}", file=sys.stderr, flush=True)
    print(f"Serving {database} at http://{host}:{port}/ (Ctrl-C to stop)", file=sys.stderr,
          flush=True)
    os.execv(args[0], args)
