"""What a marketer sees in Datasette (registered in pyproject.toml's datasette entry point).

Datasette stays the engine; this module only dresses it:

- **Templates** from ``earful/templates`` (searched before Datasette's own): a home page of
  the five questions people come with, mention lists that read like a feed, a mention page
  with its sentiment and triage actions, canned questions without their SQL.
- **Links in answers**: a canned query can return a cell as JSON, ``{"label": ..., "query":
  name, "params": {...}}`` or ``{"label": ..., "row": table, "pk": id}``, and the page shows
  a link to that question or row (built here, so names and ids are always URL-encoded).
- **Back where you were**: ``/-/login?next=/earful/mentions/...`` and the triage forms
  (``?next=``) return to the page they were used from instead of the home page.
- **The mention page's facts** (sentiment that counts, the model's, triage) in one indexed
  query by the mention's id.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from datasette import hookimpl
from datasette.utils import tilde_decode, tilde_encode
from datasette.utils.asgi import Response
from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import Markup, escape

TEMPLATES = Path(__file__).resolve().parent / "templates"
CSS_PATH = "/-/earful/ui.css"
STATUSES = ("new", "acknowledged", "resolved", "ignored")
LABELS = ("negative", "neutral", "positive")
# POSTs that may send the visitor back to the page they came from (?next=).
RETURNING = {"/-/login"}
WRITE_QUERIES = ("set_triage", "set_sentiment")


@hookimpl
def prepare_jinja2_environment(env: Any, datasette: Any) -> None:
    # Ours before Datasette's defaults: "row-earful-mentions.html" and friends are found;
    # a template that wants Datasette's own version extends "default:NAME.html".
    env.loader = ChoiceLoader([FileSystemLoader(str(TEMPLATES)), env.loader])
    env.globals.setdefault("earful_statuses", STATUSES)
    env.globals.setdefault("earful_labels", LABELS)
    env.filters.setdefault("tilde", lambda value: tilde_encode(str(value)))


@hookimpl
def extra_css_urls() -> list[str]:
    return [CSS_PATH]


async def _css(request: Any) -> Response:
    return Response((TEMPLATES / "earful-ui.css").read_text(encoding="utf-8"),
                    content_type="text/css; charset=utf-8",
                    headers={"cache-control": "max-age=300"})


@hookimpl
def register_routes() -> list[tuple[str, Callable]]:
    return [(r"^/-/earful/ui\.css$", _css)]


@hookimpl
def extra_body_script(view_name: str) -> str:
    # Column descriptions are reference, not content: fold them under one line so the
    # rows come first (Datasette prints them in no block a template could override).
    if view_name not in ("table", "row"):
        return ""
    return ("document.querySelectorAll('dl.column-descriptions').forEach(function (dl) {"
            "if (dl.closest('details')) return;"
            "var d = document.createElement('details'); d.className = 'column-help';"
            "var s = document.createElement('summary');"
            "s.textContent = 'What the columns mean'; d.appendChild(s);"
            "dl.parentNode.insertBefore(d, dl); d.appendChild(dl); });")


def link_cell(value: Any, database: str, datasette: Any) -> Markup | None:
    """A cell holding ``{"label", "query", "params"}`` or ``{"label", "row", "pk"}`` JSON."""
    if not isinstance(value, str) or not value.startswith("{") or '"label"' not in value:
        return None
    try:
        spec = json.loads(value)
    except ValueError:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("label"), str):
        return None
    if isinstance(spec.get("query"), str):
        params = spec.get("params") or {}
        href = datasette.urls.database(database) + "/" + urllib.parse.quote(spec["query"])
        if params:
            href += "?" + urllib.parse.urlencode({k: str(v) for k, v in params.items()})
    elif isinstance(spec.get("row"), str) and spec.get("pk") is not None:
        href = datasette.urls.row(database, spec["row"], tilde_encode(str(spec["pk"])))
    else:
        return None
    return Markup(f'<a href="{escape(href)}">{escape(spec["label"])}</a>')


@hookimpl
def render_cell(value: Any, database: str, datasette: Any) -> Markup | None:
    return link_cell(value, database, datasette)


def safe_next(value: str | None) -> str | None:
    """A path on this site only (never //host or a scheme): no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if any(c in value for c in "\r\n"):
        return None
    return value


def _returns(scope: dict[str, Any]) -> str | None:
    if scope.get("type") != "http" or scope.get("method") != "POST":
        return None
    path = scope.get("path", "")
    if path not in RETURNING and path.rsplit("/", 1)[-1] not in WRITE_QUERIES:
        return None
    query = urllib.parse.parse_qs((scope.get("query_string") or b"").decode("latin-1"))
    return safe_next((query.get("next") or [None])[0])


@hookimpl
def asgi_wrapper() -> Callable[[Any], Any]:
    def wrap(app: Any) -> Any:
        async def back_to_the_page(scope: dict, receive: Any, send: Any) -> None:
            target = _returns(scope)
            if target is None:
                await app(scope, receive, send)
                return

            async def send_back(message: dict) -> None:
                if message.get("type") == "http.response.start" and \
                        message.get("status") in (301, 302, 303):
                    message = dict(message, headers=[
                        (k, target.encode("latin-1") if k.lower() == b"location" else v)
                        for k, v in message.get("headers", [])])
                await send(message)

            await app(scope, receive, send_back)

        return back_to_the_page

    return wrap


MENTION_SQL = """
select m.id, m.brand, m.source, m.kind, m.target, m.author, m.title, m.body, m.rating,
       m.url, m.created_at, m.deleted, m.lang, f.sentiment, s.score, s.label as model_label,
       l.label as human_label, l.labelled_by, l.labelled_at,
       coalesce(t.status, 'new') as status, t.owner, t.note, t.updated_by, t.updated_at
from mentions m
left join mention_facts f on f.mention_rowid = m.rowid
left join models cur on cur.current = 1
left join scores s on s.mention_id = m.id and s.model = cur.model and s.version = cur.version
left join labels l on l.mention_id = m.id
left join triage t on t.mention_id = m.id
where m.id = :id
"""

LATEST_EPISODE_SQL = """
select w.episode_id, w.brand, w.series, w.status, w.opened_at, e.summary,
       (select count(*) from mention_facts f where f.brand = w.brand
          and f.sentiment = 'negative' and f.created_at >= w.since
          and f.created_at < w.until and (w.series = 'all' or f.source = w.series))
         as negatives
from episodes e join episode_windows w on w.episode_id = e.id
where e.opened_at = (select max(opened_at) from episodes)
order by e.series = 'all' desc limit 1
"""


async def _mention(datasette: Any, database: str, request: Any) -> dict[str, Any]:
    pks = request.url_vars.get("pks") if request is not None else None
    if not pks:
        return {}
    db = datasette.get_database(database)
    row = (await db.execute(MENTION_SQL, {"id": tilde_decode(pks)})).first()
    if row is None:
        return {}
    actor = request.actor
    can_triage = await datasette.permission_allowed(
        actor, "view-query", resource=(database, "set_triage"), default=True)
    can_label = await datasette.permission_allowed(
        actor, "view-query", resource=(database, "set_sentiment"), default=True)
    return {"mention": dict(row), "can_triage": can_triage, "can_label": can_label,
            "here": request.path}


async def _home(datasette: Any) -> dict[str, Any]:
    names = [n for n in datasette.databases if n != "_internal"]
    if not names:
        return {}
    db = datasette.get_database(names[0])
    out: dict[str, Any] = {"home_database": names[0]}
    try:
        episode = (await db.execute(LATEST_EPISODE_SQL)).first()
        out["latest_episode"] = dict(episode) if episode else None
        out["brands"] = [dict(r) for r in await db.execute(
            "select name, competitor from brands order by competitor, name")]
    except Exception:  # an old database without these tables: the home page still shows
        out.setdefault("latest_episode", None)
        out.setdefault("brands", [])
    return out


@hookimpl
def extra_template_vars(template: str, database: str, table: str, view_name: str,
                        request: Any, datasette: Any) -> Callable[[], Awaitable[dict]]:
    async def inner() -> dict[str, Any]:
        if view_name == "row" and table == "mentions":
            return await _mention(datasette, database, request)
        if view_name == "index":
            return await _home(datasette)
        return {}

    return inner
