"""Datasette for anonymous visitors: what they may read and run, and a sign-in that cannot
stall the server (registered as a second ``datasette`` entry point in pyproject.toml).

Measured on the demo database (benchmarks/datasette/README.md, "Anonymous visitors"):

- ``select length(hex(randomblob(400000000)))`` took 2 GB and 10-17 s although the SQL time
  limit is 3 s: Datasette's progress handler runs between virtual-machine steps, and one
  ``randomblob`` call is one step. A per-connection length limit (``SQLITE_LIMIT_LENGTH``)
  refuses that query at once, but no SQLite memory limit bounds what Datasette holds in
  Python: a cross join returning a 16 MB value in each of 1,000 rows is 16 GB of Python
  strings. So **arbitrary SQL is for those who may read every table** (the signed-in team).
  Anonymous visitors keep every table page, facet, search, canned question and chart: the
  charts (datasette-dashboards) fetch ``/earful.json?sql=`` with their own queries, and
  exactly those queries are let through.
- Operational tables (``allow`` blocks in metadata.yml) answer 403 to anonymous visitors, and
  every query Datasette runs for such a visitor (table and row pages, facets, the charts'
  SQL) runs with a SQLite authorizer that refuses to read them (their columns read as NULL).
- Search: a search of ``"`` or ``""`` finds nothing instead of answering 400.
- Sign-in: datasette-auth-passwords hashes (pbkdf2, ~0.3 s) on the event loop, so four
  concurrent ``/-/login`` POSTs stalled every page 1.5 s. Here ``/-/login`` and
  ``/-/password-tool`` hash in a thread, one hash at a time, a few waiting at most (more
  are answered 429 at once), and a failure answers after a pause. HTTP Basic credentials
  are checked the same way.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import json
import sqlite3
import threading
import time
import urllib.parse
from collections import OrderedDict
from typing import Any

from datasette import hookimpl
from datasette.plugins import pm
from datasette.utils import await_me_maybe, escape_fts
from datasette.utils.asgi import Request, Response

# Longest string or blob one SQL value may be. Mentions are far smaller (a response is
# capped at a few MB); randomblob(400000000) and the like are refused at once.
MAX_VALUE_BYTES = 16 * 1024 * 1024
# Hashing: one at a time (each takes a core for ~0.3 s), at most this many waiting.
MAX_WAITING_SIGN_INS = 4
# A failed sign-in answers after this pause (without holding anything), so one client
# guesses slowly; no lockout, which would let anyone lock the team out.
FAILURE_PAUSE = 1.0
RETRY_AFTER = 5
BASIC_CACHE_SECONDS = 60.0

# Per request: {database: tables this visitor may not read}; empty for the team.
_DENIED: contextvars.ContextVar[dict[str, frozenset[str]] | None] = contextvars.ContextVar(
    "earful_denied_tables", default=None)
BASIC_ACTOR = "earful.basic_actor"


# --- what one query may allocate ------------------------------------------------------
def _escape_fts(query: str) -> str:
    # Datasette's escape_fts turns `"` or `""` into an empty query, which FTS5 refuses (HTTP
    # 400); '""' is the empty phrase, which matches nothing. The README promises that search
    # never errors. (An empty search is left as Datasette has it.)
    return escape_fts(query) or ('""' if query else query)


@hookimpl(trylast=True)  # after Datasette's own escape_fts, which this replaces
def prepare_connection(conn: sqlite3.Connection) -> None:
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.create_function("escape_fts", 1, _escape_fts, deterministic=True)


# --- who reads which table --------------------------------------------------------------
# Columns of a team-only table that one public view may read for everyone, and only through
# that view: when an episode's emails went out says which hours its evidence covers
# (episode_windows), nothing about who got them, where they went or what failed. A query of
# its own (a row page counting an episode's alerts) still reads nothing.
_WINDOW_COLUMNS = frozenset({"id", "episode_id", "kind", "event_at", "created_at"})
# (view or its CTE, as SQLite names the reader; table) -> columns (see db._m018).
VIEW_READS = {("episode_windows", "alerts"): _WINDOW_COLUMNS,
              ("episode_latest_alert", "alerts"): _WINDOW_COLUMNS}


def _authorizer(denied: frozenset[str]) -> Any:
    def authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None,
                  view: str | None) -> int:
        if action != sqlite3.SQLITE_READ or arg1 not in denied:
            return sqlite3.SQLITE_OK
        if arg2 in VIEW_READS.get((view or "", arg1), ()):
            return sqlite3.SQLITE_OK
        # A column reads as NULL: a row page's "links from other tables" counts 0 rather
        # than failing. Reading no column at all (count(*)) is refused outright.
        return sqlite3.SQLITE_IGNORE if arg2 else sqlite3.SQLITE_DENY

    return authorize


def _guard(datasette: Any, database: Any) -> None:
    """Run the queries of a visitor with tables denied on connections of their own, which
    carry the authorizer. (Not the shared ones: Python's statement cache would keep a
    statement compiled under the authorizer and serve it to the team afterwards.)"""
    original = database.execute_fn
    restricted = threading.local()  # per thread: {denied tables: connection}

    async def execute_fn(fn: Any) -> Any:
        denied = (_DENIED.get() or {}).get(database.name)
        if not denied:
            return await original(fn)

        def guarded(_: sqlite3.Connection) -> Any:
            conns = restricted.__dict__.setdefault("conns", {})
            conn = conns.get(denied)
            if conn is None:
                conn = database.connect()
                datasette._prepare_connection(conn, database.name)
                conn.set_authorizer(_authorizer(denied))
                conns[denied] = conn
            return fn(conn)

        return await original(guarded)

    database.execute_fn = execute_fn


@hookimpl
def startup(datasette: Any) -> None:
    for database in datasette.databases.values():
        _guard(datasette, database)


class _Denials:
    """Tables each kind of visitor may not view, from Datasette's own permission checks
    (metadata.yml's ``allow`` blocks), cached per actor."""

    def __init__(self) -> None:
        self.cache: OrderedDict[str, dict[str, frozenset[str]]] = OrderedDict()

    async def of(self, datasette: Any, actor: dict | None) -> dict[str, frozenset[str]]:
        key = json.dumps(actor, sort_keys=True, default=str)
        if key in self.cache:
            return self.cache[key]
        denied: dict[str, frozenset[str]] = {}
        for name, database in datasette.databases.items():
            if name == "_internal":
                continue
            tables = await database.table_names()
            blocked = [t for t in tables if not await datasette.permission_allowed(
                actor, "view-table", resource=(name, t), default=True)]
            if blocked:
                denied[name] = frozenset(blocked)
        self.cache[key] = denied
        while len(self.cache) > 64:
            self.cache.popitem(last=False)
        return denied


def _chart_queries(datasette: Any) -> set[str]:
    """Every SQL text the dashboards' charts send, for every combination of filters set."""
    from datasette_dashboards import replace_opts_in_query, sql_var_pattern

    out: set[str] = set()
    for dashboard in (datasette.plugin_config("datasette-dashboards") or {}).values():
        for chart in (dashboard.get("charts") or {}).values():
            query = chart.get("query")
            if not query:
                continue
            names = sorted(set(sql_var_pattern.findall(query)))
            for mask in range(2 ** len(names)):
                options = {n: "x" for i, n in enumerate(names) if mask >> i & 1}
                out.add(replace_opts_in_query(query, options))
    return out


def _arbitrary_sql(query: list[tuple[str, str]], allowed: set[str]) -> bool:
    """SQL of the visitor's own: ``sql=`` other than a chart's, or a ``_where`` clause."""
    return any(k == "_where" or (k == "sql" and v not in allowed) for k, v in query)


# --- sign-in ------------------------------------------------------------------------------
class _Throttle:
    """One password hash at a time, in a thread, and a few waiting for it."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.waiting = 0
        self.basic: OrderedDict[bytes, tuple[float, dict | None]] = OrderedDict()

    def refused(self) -> str | None:
        if self.waiting >= MAX_WAITING_SIGN_INS:
            return "Too many sign-ins at once: try again in a moment."
        return None

    async def run(self, fn: Any, *args: Any) -> Any:
        self.waiting += 1
        try:
            async with self.lock:
                return await asyncio.to_thread(fn, *args)
        finally:
            self.waiting -= 1


_throttle = _Throttle()


def _accounts(datasette: Any) -> tuple[dict[str, str], dict[str, Any]]:
    config = datasette.plugin_config("datasette-auth-passwords") or {}
    accounts = {k.split("_password_hash")[0]: v for k, v in config.items()
                if k.endswith("_password_hash")}
    return accounts, config.get("actors") or {}


def _too_many(message: str) -> Response:
    return Response.text(message, status=429, headers={"retry-after": str(RETRY_AFTER)})


async def password_login(request: Any, datasette: Any) -> Response:
    """datasette-auth-passwords' /-/login, with the hash off the event loop and throttled."""
    from datasette_auth_passwords.utils import verify_password

    accounts, actors = _accounts(datasette)
    error = None if accounts else "This instance does not have any configured accounts"
    if request.method == "POST":
        refused = _throttle.refused()
        if refused:
            return _too_many(refused)
        post = await request.post_vars()
        username, password = post.get("username") or "", post.get("password") or ""
        stored = accounts.get(username)
        if stored and await _throttle.run(verify_password, password, stored):
            actor = actors.get(username) or {"id": username}
            response = Response.redirect(datasette.urls.path("/"))
            response.set_cookie("ds_actor", datasette.sign({"a": actor}, "actor"))
            return response
        await asyncio.sleep(FAILURE_PAUSE)
        error = "Invalid username or password"
    return Response.html(await datasette.render_template(
        "password_login.html", {"error": error}, request=request))


async def password_tool(request: Any, datasette: Any) -> Response:
    """datasette-auth-passwords' /-/password-tool, hashing in a thread, throttled."""
    from datasette_auth_passwords.utils import hash_password

    hashed = None
    if request.method == "POST":
        refused = _throttle.refused()
        if refused:
            return _too_many(refused)
        password = (await request.post_vars()).get("password")
        if password:
            hashed = await _throttle.run(hash_password, password)
    return Response.html(await datasette.render_template(
        "password_tool.html", {"hashed_password": hashed}, request=request))


@hookimpl(tryfirst=True)  # before datasette-auth-passwords' own routes for the same paths
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/password-tool$", password_tool), (r"^/-/login$", password_login)]


async def _basic_actor(datasette: Any, scope: dict, header: bytes) -> dict | None | str:
    """The actor of HTTP Basic credentials, checked off the event loop; a str if refused."""
    from datasette_auth_passwords.utils import verify_password

    key = hashlib.sha256(header).digest()
    cached = _throttle.basic.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    refused = _throttle.refused()
    if refused:
        return refused
    try:
        username, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    accounts, actors = _accounts(datasette)
    stored = accounts.get(username)
    ok = bool(stored) and await _throttle.run(verify_password, password, stored)
    actor = (actors.get(username) or {"id": username}) if ok else None
    _throttle.basic[key] = (time.monotonic() + BASIC_CACHE_SECONDS, actor)
    while len(_throttle.basic) > 256:
        _throttle.basic.popitem(last=False)
    return actor


@hookimpl
def actor_from_request(request: Any) -> dict | None:
    return request.scope.get(BASIC_ACTOR)


# --- the gate in front of every request ---------------------------------------------------
async def _actor(datasette: Any, scope: dict, receive: Any) -> dict | None:
    request = Request(scope, receive)
    for hook in pm.hook.actor_from_request(datasette=datasette, request=request):
        actor = await await_me_maybe(hook)
        if actor:
            return actor
    return None


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    denials = _Denials()
    charts = _chart_queries(datasette)  # now, before a dashboard view fills a query in

    def wrap(app: Any) -> Any:
        async def gate(scope: dict, receive: Any, send: Any) -> None:
            if scope.get("type") != "http":
                return await app(scope, receive, send)
            headers = scope.get("headers") or []
            basic = [v for k, v in headers if k == b"authorization" and v.startswith(b"Basic ")]
            if basic:
                # Checked here, off the event loop; datasette-auth-passwords would hash on it.
                found = await _basic_actor(datasette, scope, basic[0])
                if isinstance(found, str):
                    return await _too_many(found).asgi_send(send)
                scope = dict(scope, headers=[(k, v) for k, v in headers
                                             if k != b"authorization"], **{BASIC_ACTOR: found})
            denied = await denials.of(datasette, await _actor(datasette, scope, receive))
            if denied:
                query = urllib.parse.parse_qsl(
                    (scope.get("query_string") or b"").decode("latin-1"),
                    keep_blank_values=True)
                if _arbitrary_sql(query, charts):
                    return await Response.text(
                        "Writing your own SQL is for signed-in team members (/-/login). "
                        "Every table, question and chart is open to all.",
                        status=403).asgi_send(send)
            token = _DENIED.set(denied)
            try:
                await app(scope, receive, send)
            finally:
                _DENIED.reset(token)

        return gate

    return wrap
