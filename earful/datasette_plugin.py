"""Datasette plugin shipped with earful (registered in pyproject.toml's datasette entry point).

It makes Datasette's own search box (``?_search=`` on ``mentions`` and ``mentions_view``)
fast on a million mentions without changing what the page says
(benchmarks/datasette/README.md, "Search box (plugin)"):

- **No count over every match on the HTML page.** Datasette runs ``select count(*) ... where
  rowid in (every match)`` before it shows a page: 100-300 ms for a word in one mention in
  ten. The page gets ``_nocount`` instead, and the number it shows ("187,849 rows where
  search matches ...") comes from the full-text index, which counts the same rows in a few
  milliseconds. With other filters as well (brand=..., a facet value), the count honours them
  and stops at 1,000: the page says "more than 1,000 rows where ...". JSON and CSV keep
  Datasette's exact count (scripts read ``filtered_table_rows_count``).
- **A query plan per word.** How many mentions the words match (the index knows at once)
  picks the plan: a rare word reads its few matches and sorts them; a common word walks the
  newest-first index until a page is full; a word in most mentions checks each row of that
  walk against the index rather than first listing every match.

Every other page is untouched: nothing here acts without a non-empty search on those two
tables.
"""

from __future__ import annotations

import re
import sqlite3
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.filters import FilterArguments, Filters
from datasette.plugins import pm
from datasette.utils import await_me_maybe, escape_sqlite
from datasette.utils.asgi import BadRequest
from datasette.views.base import DatasetteError, ureg

FTS_TABLE = "mentions_fts"
SEARCH_TABLES = ("mentions", "mentions_view")
# At most this many matches: read them through the index and sort them (a 20-match word
# took 130-180 ms walking a million index entries newest first looking for them).
RARE_MATCHES = 1_000
# Words in at least this share of all mentions: probe the index row by row while walking
# newest first (~170 probes for a page of 50) instead of listing a million matches first
# (~300 ms). Only without a count: counting that way would probe every row.
COMMON_SHARE = 0.3
# With other filters, count this far and no further.
COUNT_CAP = 1_000

# The clause Datasette's search filter writes (datasette/filters.py, search_filters).
SEARCH_CLAUSE = re.compile(
    r"(?P<pk>rowid) in \((?P<matches>select rowid from (?P<fts>\w+) where "
    r"(?P<target>\w+) match (?P<query>:\w+|escape_fts\(:\w+\)))\)")
# Datasette reads _nocount before it calls the filter hooks, and builds every link on the
# page from the query string after them: the plugin adds it for the first and takes it
# away again in the second, so no link on the page carries it.
NOCOUNT = b"&_nocount=1"
SKIPPED = "earful.count_skipped"
MATCHES = "earful.search_matches"


class MoreThan(int):
    """A count known only to be above a cap: Datasette's templates print it as a number
    (``"{:,}".format(n)``), so it reads "more than 1,000 rows where ..."."""

    def __format__(self, spec: str) -> str:
        return "more than " + format(int(self), spec)


def _searches(query: list[tuple[str, str]]) -> bool:
    return any(k.startswith("_search") and k != "_searchmode" and v for k, v in query)


def _skip_count(scope: dict[str, Any]) -> bool:
    """An HTML page of a search table with a search and nothing that makes Datasette
    redirect (the filter form's _filter_* and _sort_by_desc fields)."""
    if scope.get("type") != "http" or scope.get("method") not in ("GET", "HEAD"):
        return False
    parts = scope.get("path", "").strip("/").split("/")
    if len(parts) != 2 or parts[1] not in SEARCH_TABLES:  # .json, .csv: keep the count
        return False
    query = urllib.parse.parse_qsl((scope.get("query_string") or b"").decode("latin-1"),
                                   keep_blank_values=True)
    keys = {k for k, _ in query}
    if keys & {"_nocount", "_format", "_shape", "_sort_by_desc"} or any(
            k.startswith("_filter_") for k in keys):
        return False
    return _searches(query)


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[Any], Any]:
    def wrap(app: Any) -> Any:
        async def skip_the_count(scope: dict, receive: Any, send: Any) -> None:
            if _skip_count(scope):
                scope = dict(scope, query_string=scope["query_string"] + NOCOUNT,
                             **{SKIPPED: True})
            await app(scope, receive, send)

        return skip_the_count

    return wrap


def _other_filters(request: Any) -> bool:
    """Anything besides one _search that narrows the rows (Datasette's own rules)."""
    searches = 0
    for key in request.args:
        if key in ("_where", "_through"):
            return True
        if not (key.startswith("_") and "__" not in key):
            return True
        if key.startswith("_search") and key != "_searchmode":
            searches += 1
    return searches > 1


def _newest_first(request: Any, metadata: dict) -> bool:
    sort, sort_desc = request.args.get("_sort"), request.args.get("_sort_desc")
    if not sort and not sort_desc:
        sort, sort_desc = metadata.get("sort"), metadata.get("sort_desc")
    return not sort and sort_desc == "created_at"


async def _count_matches(db: Any, match: re.Match, params: dict) -> int | None:
    try:
        rows = await db.execute(
            f"select count(*) from {match['fts']} where {match['target']} match "
            f"{match['query']}", params)
    except (sqlite3.Error, QueryInterrupted):
        return None  # e.g. raw-mode syntax: Datasette's own query reports it
    return rows.first()[0]


async def _plan(clause: str, params: dict, request: Any, database: str, table: str,
                datasette: Any) -> list[str]:
    """The clauses to use instead of Datasette's search clause: same rows, faster plan."""
    match = SEARCH_CLAUSE.fullmatch(clause)
    if not match or match["fts"] != FTS_TABLE:
        return [clause]
    db = datasette.get_database(database)
    cache = request.scope.setdefault(MATCHES, {})
    key = (clause, tuple(sorted((k, str(v)) for k, v in params.items())))
    if key not in cache:
        cache[key] = await _count_matches(db, match, params)
    matches = cache[key]
    if matches is None:
        return [clause]
    if matches <= RARE_MATCHES:
        if table == "mentions_view":
            # Its rowid is an expression (so common words walk the created_at index); the
            # matches' own created_at values let SQLite start from the few matches instead.
            return [clause, f"created_at in (select created_at from mention_facts "
                            f"where mention_rowid in ({match['matches']}))"]
        return [clause]  # mentions: rowid in (...) already reads the matches by key
    if not _newest_first(request, datasette.table_metadata(database, table)):
        return [clause]
    skipped = request.scope.get(SKIPPED) or request.args.get("_nocount") or \
        request.args.get("_shape") in ("array", "object")
    if skipped and not _other_filters(request):
        total = (await db.execute("select max(rowid) from mentions")).first()[0] or 0
        if matches >= COMMON_SHARE * total:
            return [f"exists (select 1 from {match['fts']} where {match['target']} match "
                    f"{match['query']} and {match['fts']}.rowid = "
                    f"{escape_sqlite(table)}.rowid)"]
    if table == "mentions":
        return ["+" + clause]  # walk created_at newest first, not sort every match
    return [clause]


@hookimpl(hookwrapper=True)
def filters_from_request(request: Any, database: str, table: str, datasette: Any) -> Any:
    if request.scope.get(SKIPPED) and request.scope["query_string"].endswith(NOCOUNT):
        # Datasette has read _nocount by now; links and forms must not carry it.
        request.scope["query_string"] = request.scope["query_string"][:-len(NOCOUNT)]
    outcome = yield
    if table not in SEARCH_TABLES:
        return

    def replanned(result: Any) -> Callable[[], Awaitable[Any]]:
        async def inner() -> Any:
            arguments = await await_me_maybe(result)
            if isinstance(arguments, FilterArguments) and arguments.where_clauses:
                clauses = []
                for clause in arguments.where_clauses:
                    clauses += await _plan(clause, arguments.params, request, database, table,
                                           datasette)
                arguments.where_clauses = clauses
            return arguments

        return inner

    outcome.force_result([replanned(r) for r in outcome.get_result()])


async def _capped_count(request: Any, database: str, table: str, datasette: Any) -> int | None:
    """Rows matching every filter of the page (as Datasette builds them), up to COUNT_CAP+1."""
    metadata = datasette.table_metadata(database, table)
    pairs = [(k, v) for k in request.args if not (k.startswith("_") and "__" not in k)
             for v in request.args.getlist(k)]
    where, params = Filters(sorted(pairs), metadata.get("units", {}), ureg) \
        .build_where_clauses(table)
    for hook in pm.hook.filters_from_request(request=request, table=table, database=database,
                                             datasette=datasette):
        arguments = await await_me_maybe(hook)
        if arguments:
            where += arguments.where_clauses
            params.update(arguments.params)
    sql = (f"select count(*) from (select 1 from {escape_sqlite(table)}"
           f"{' where ' + ' and '.join(where) if where else ''} limit {COUNT_CAP + 1})")
    try:
        n = (await datasette.get_database(database).execute(sql, params)).first()[0]
    except (sqlite3.Error, QueryInterrupted):
        return None
    return MoreThan(COUNT_CAP) if n > COUNT_CAP else n


@hookimpl
def extra_template_vars(template: str, database: str, table: str, request: Any,
                        datasette: Any) -> Callable[[], Awaitable[dict]]:
    async def count() -> dict:
        if not (request is not None and request.scope.get(SKIPPED)
                and table in SEARCH_TABLES and template.startswith("table")):
            return {}
        if not _other_filters(request):
            matches = [n for n in request.scope.get(MATCHES, {}).values()]
            if len(matches) == 1 and matches[0] is not None:
                return {"filtered_table_rows_count": matches[0]}
        try:
            n = await _capped_count(request, database, table, datasette)
        except (BadRequest, DatasetteError):
            return {}  # the page itself showed the error
        return {} if n is None else {"filtered_table_rows_count": n}

    return count
