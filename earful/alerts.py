"""Alert emails: queue (outbox rows), gather (database), render (pure), send (SMTP or .eml).

The ``alerts`` table is an outbox. The detect stage writes a row (pending) in the same
transaction as the episode; digests and source-health emails are queued by the alert stage
itself, keyed by their period or failure streak. The alert stage claims a row (a lease:
``claimed_by`` host:pid and ``claimed_at``), delivers it and marks it sent. Each alert has a
Message-ID derived from its id, so the one narrow window -- a process dying after the SMTP
server accepted the message but before the row says "sent" -- can only produce a second copy
with the *same* Message-ID, which mail clients and servers show once.

Everything that comes from a mention is untrusted: it is cleaned of control and bidi
characters, escaped, URL-looking text is defanged so mail clients don't turn it into links,
and only a mention's own http(s) URL becomes a link (labelled with its real host).
"""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
import html
import json
import os
import re
import smtplib
import socket
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from collectors.base import parse_iso

from . import chart
from . import db as store
from .config import Config

SOURCE_NAMES = {"reddit": "Reddit", "hackernews": "Hacker News", "hn": "Hacker News",
                "feed": "Google Alerts / feeds",
                "schemaorg": "review pages", "trustpilot": "Trustpilot", "appstore": "App Store",
                "googleplay": "Google Play", "css": "review pages"}
RULES = {
    "negative-volume": "more negative mentions than usual, sustained",
    "negative-share": "a larger share of negative mentions than usual, sustained",
    "negative-burst": "a sudden burst of negative mentions within one bucket",
}
CHART_DAYS = 7
CHART_BIN_HOURS = 3  # 56 bars over a week: the storm stands out, the bars stay visible
MAX_RUN_BACK_BUCKETS = 6  # how far before the opening hour the evidence may start


class DeliveryError(Exception):
    """An alert could not be delivered (SMTP down, refused, outbox not writable)."""


def message_id(alert_id: str) -> str:
    digest = hashlib.sha256(alert_id.encode()).hexdigest()[:24]
    return f"<earful.{digest}@earful.invalid>"


# --- who gets what ------------------------------------------------------------------------
def subscribers(config: Config) -> list[dict[str, str]]:
    """``[[alerts.subscribers]]`` entries, normalised: email, mode, digest."""
    out = []
    for entry in config.alerts.get("subscribers", []) or []:
        if isinstance(entry, str):
            entry = {"email": entry}
        out.append({"email": entry["email"], "mode": entry.get("mode", "instant"),
                    "digest": entry.get("digest", "daily")})
    return out


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def instant_recipients(config: Config) -> list[str]:
    """``alerts.recipients`` (instant, the simple form) plus subscribers who want instant mail."""
    return _unique(list(config.alerts["recipients"]) + [
        s["email"] for s in subscribers(config) if s["mode"] in ("instant", "both")])


def digest_recipients(config: Config, frequency: str) -> list[str]:
    return _unique([s["email"] for s in subscribers(config)
                    if s["mode"] in ("digest", "both") and s["digest"] == frequency])


def alert_row(alert_id: str, kind: str, *, recipients: list[str], brand: str | None = None,
              episode_id: str | None = None, event_at: str | None = None,
              thread_id: str | None = None) -> dict[str, Any]:
    return {"id": alert_id, "kind": kind, "episode_id": episode_id, "brand": brand,
            "event_at": event_at, "recipients": json.dumps(recipients),
            "message_id": message_id(alert_id), "thread_id": thread_id, "status": "pending",
            "created_at": store.now_iso()}


def insert_alert(db: sqlite_utils.Database, row: dict[str, Any]) -> bool:
    columns = list(row)
    return db.execute(
        f"INSERT OR IGNORE INTO alerts ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))})", [row[c] for c in columns]).rowcount == 1


def queue_alert(db: sqlite_utils.Database, config: Config, *, kind: str, episode_id: str | None,
                brand: str, event_at: str) -> bool:
    """Write a pending alert unless it exists. Call inside the detect transaction."""
    alert_id = f"{episode_id}:{kind}:{event_at}"
    thread = None
    if kind != "open" and episode_id:
        row = db.execute("SELECT message_id FROM alerts WHERE episode_id = ? AND kind = 'open'",
                         [episode_id]).fetchone()
        thread = row[0] if row else None
    return insert_alert(db, alert_row(alert_id, kind, recipients=instant_recipients(config),
                                      brand=brand, episode_id=episode_id, event_at=event_at,
                                      thread_id=thread))


# --- small helpers shared by every kind of email -------------------------------------------
def when(text: str | None, *, date: bool = True) -> str:
    """'Sun 22 Nov 07:00 UTC': what a reader on a phone takes in at a glance."""
    if not text:
        return ""
    m = parse_iso(text)
    return f"{m:%a} {m.day} {m:%b %H:%M} UTC" if date else f"{m:%H:%M} UTC"


def source_name(source: str) -> str:
    return SOURCE_NAMES.get(source, source)


def tilde(value: str) -> str:
    """Datasette's tilde-encoding of a primary key in a row URL (``reddit:x`` -> ``reddit~3Ax``)."""
    return "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_-")
                   else "+" if b == 32 else f"~{b:02X}" for b in value.encode())


# Also U+061C (Arabic letter mark, a bidi control), U+180E and the invisible tag characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u202a-\u202e"
                      r"\u2060-\u2069\ufeff\U000e0000-\U000e007f]")
# A URL with a scheme or www., or a bare domain (paypa1.com/login): mail clients link both.
_URLISH = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]{1,15}://|www\.)[^\s<>\"']+"
                     r"|\b(?:[a-z0-9](?:[a-z0-9-]{0,62})\.)+[a-z]{2,24}\b(?:/[^\s<>\"']*)?")


def _defang(match: re.Match[str]) -> str:
    # "https://paypa1.com/x" -> "https[://]paypa1[.]com/x": readable, never a link.
    scheme, sep, rest = match.group(0).partition("://")
    if not sep:
        scheme, rest = "", match.group(0)
    host, slash, path = rest.partition("/")
    return (scheme + "[://]" if sep else "") + host.replace(".", "[.]") + slash + path


def clean(text: str | None, limit: int = 280) -> str:
    """Mention text for an email: control, bidi and zero-width characters out, links
    defanged, whitespace folded, length capped. Still needs escaping for HTML."""
    text = _CONTROL.sub("", text or "")
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
    return _URLISH.sub(_defang, text)


def safe_url(url: str | None) -> str | None:
    # Only a mention's own http(s) link becomes a link; anything else stays out.
    # A backslash or user info: browsers read https://evil.example\\@larkspur.example/ as
    # evil.example, Python as larkspur.example, so the label would lie.
    if not url or _CONTROL.search(url) or any(c.isspace() or c == "\\" for c in url):
        return None
    parts = urllib.parse.urlparse(url)
    if "@" in parts.netloc:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def host_of(url: str) -> str:
    host = urllib.parse.urlparse(url).hostname or ""
    return host[4:] if host.startswith("www.") else host


class Links:
    """Datasette URLs, from ``earful.datasette_url`` and the database file's name."""

    def __init__(self, base: str, database: str) -> None:
        self.base, self.database = base.rstrip("/"), database

    @classmethod
    def of(cls, config: Config) -> Links:
        return cls(config.earful["datasette_url"], Path(config.database).stem)

    def table(self, name: str, **query: Any) -> str:
        qs = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        return f"{self.base}/{self.database}/{name}" + (f"?{qs}" if qs else "")

    def row(self, table: str, pk: str) -> str:
        return f"{self.base}/{self.database}/{table}/{tilde(pk)}"

    def query(self, name: str, **params: Any) -> str:
        return self.table(name, **params)


# --- evidence -----------------------------------------------------------------------------
@dataclass
class SourceCount:
    source: str
    negatives: int
    total: int


@dataclass
class Evidence:
    """Everything an episode email shows, as plain values (gathered from the database)."""

    alert: dict[str, Any]
    episode: dict[str, Any]
    worst: list[dict[str, Any]] = field(default_factory=list)
    by_source: list[SourceCount] = field(default_factory=list)
    window_start: str = ""
    window_end: str = ""
    negatives: int = 0
    total: int = 0
    expected: float | None = None
    bins: list[chart.Bin] = field(default_factory=list)
    bin_hours: int = CHART_BIN_HOURS
    terms: list[str] = field(default_factory=list)
    datasette_url: str = ""
    database_name: str = "earful"

    @property
    def links(self) -> Links:
        return Links(self.datasette_url, self.database_name)

    @property
    def hours(self) -> int:
        return max(1, round((parse_iso(self.window_end) - parse_iso(self.window_start))
                            .total_seconds() / 3600))

    @property
    def ratio(self) -> float | None:
        return self.negatives / self.expected if self.expected and self.negatives else None


def rows(db: sqlite_utils.Database, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = db.execute(sql, params)
    names = [c[0] for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def evidence_window(db: sqlite_utils.Database, config: Config, alert: dict[str, Any],
                    episode: dict[str, Any]) -> tuple[str, str]:
    """Where the evidence starts and ends.

    It starts where the excess started: the opening bucket, walked back over the buckets
    just before it whose negatives were already above usual (a slow start counts). It
    ends with the bucket of the event (open, escalate), or when the episode closed.
    """
    step = dt.timedelta(hours=config.detection["bucket_hours"])
    opened = parse_iso(episode["opened_at"])
    start = opened
    for row in db.execute(
            "SELECT bucket_at, y, expected FROM buckets WHERE brand = ? AND series = ? AND "
            "bucket_at < ? AND bucket_at >= ? ORDER BY bucket_at DESC",
            [episode["brand"], episode["series"], episode["opened_at"],
             store.iso(opened - step * MAX_RUN_BACK_BUCKETS)]).fetchall():
        if row[1] <= (row[2] or 0) + 0.5:
            break
        start = parse_iso(row[0])
    if alert["kind"] == "close" and episode.get("closed_at"):
        end = parse_iso(episode["closed_at"]) + step
    else:
        end = max(parse_iso(alert["event_at"]), opened) + step
    return store.iso(start), store.iso(end)


def chart_bins(db: sqlite_utils.Database, brand: str, series: str, end: dt.datetime,
               *, days: int = CHART_DAYS, bin_hours: int = CHART_BIN_HOURS) -> list[chart.Bin]:
    """Negatives and the detector's expected negatives per ``bin_hours``, last ``days`` days.

    From ``buckets`` (what the detector saw); where it has no rows (detection not run yet)
    from the mentions themselves, without a usual line.
    """
    step = dt.timedelta(hours=bin_hours)
    stop = end.replace(minute=0, second=0, microsecond=0)
    stop += dt.timedelta(hours=(-stop.hour) % bin_hours)
    start = stop - dt.timedelta(days=days)
    found = db.execute(
        "SELECT bucket_at, y, expected FROM buckets WHERE brand = ? AND series = ? AND "
        "bucket_at >= ? AND bucket_at < ?", [brand, series, store.iso(start), store.iso(stop)]
    ).fetchall()
    sums: dict[int, list[float]] = {}
    if found:
        for at, y, expected in found:
            slot = int((parse_iso(at) - start) / step)
            acc = sums.setdefault(slot, [0.0, 0.0])
            acc[0] += y
            acc[1] += expected or 0.0
    else:
        for (at,) in db.execute(
                "SELECT created_at FROM mention_sentiments WHERE brand = ? AND label = "
                "'negative' AND created_at >= ? AND created_at < ?",
                [brand, store.iso(start), store.iso(stop)]).fetchall():
            slot = int((parse_iso(at) - start) / step)
            sums.setdefault(slot, [0.0, 0.0])[0] += 1
    count = int((stop - start) / step)
    return [chart.Bin(start + step * i, sums.get(i, [0.0, 0.0])[0],
                      sums.get(i, [0.0, 0.0])[1] if found else None) for i in range(count)]


def complaint_terms(window: list[tuple[str, str]], background: list[str],
                    brand_words: list[str], limit: int = 6) -> list[str]:
    """What people complain about, as "term (mentions)": a small adapter over
    ``analysis.terms.complaints``. Without that module, or if it fails, the section is
    left out: the email must go out regardless."""
    try:
        from analysis import terms as terms_module
    except ImportError:
        return []
    fn = getattr(terms_module, "complaints", None)
    if not callable(fn) or not window:
        return []
    try:
        found = fn(window, background, brand_words, top=limit)
    except Exception:  # a bug there must not stop the alert
        return []
    out = []
    for item in found or []:
        term, count = getattr(item, "term", None), getattr(item, "window_count", None)
        if isinstance(term, str) and term.strip():
            out.append(clean(term, 40) + (f" ({count})" if isinstance(count, int) else ""))
    return out[:limit]


def worst_mentions(db: sqlite_utils.Database, brand: str, start: str, end: str,
                   limit: int) -> list[dict[str, Any]]:
    """The most negative mentions of a window, worst first (episode emails and digests)."""
    return rows(
        db,
        "SELECT m.id, m.source, m.kind, m.url, m.author, m.title, m.body, m.rating, "
        "m.created_at, ms.score FROM mention_sentiments ms JOIN mentions m ON m.rowid = "
        "ms.mention_rowid WHERE ms.brand = ? AND ms.created_at >= ? AND ms.created_at < ? AND "
        "ms.label = 'negative' ORDER BY ms.score ASC, m.created_at DESC LIMIT ?",
        [brand, start, end, limit])


def window_terms(db: sqlite_utils.Database, brand: str, start: str, end: str,
                 keywords: list[str]) -> list[str]:
    """What the window's negatives complain about, against the brand's 28 days before."""
    # A line break between title and body: a two-word phrase must not span the two.
    texts = [(r[0], "\n".join(t for t in r[1:] if t)) for r in db.execute(
        "SELECT m.id, m.title, m.body FROM mention_sentiments ms JOIN mentions m ON m.rowid = "
        "ms.mention_rowid WHERE ms.brand = ? AND ms.created_at >= ? AND ms.created_at < ? AND "
        "ms.label = 'negative' ORDER BY m.created_at DESC LIMIT 2000",
        [brand, start, end]).fetchall()]
    background = ["\n".join(t for t in r if t) for r in db.execute(
        "SELECT m.title, m.body FROM mention_sentiments ms JOIN mentions m ON m.rowid = "
        "ms.mention_rowid WHERE ms.brand = ? AND ms.created_at >= ? AND ms.created_at < ? "
        "LIMIT 5000", [brand, store.iso(parse_iso(start) - dt.timedelta(days=28)), start]
    ).fetchall()]
    return complaint_terms(texts, background, [w.strip('"') for w in keywords])


def gather(db: sqlite_utils.Database, config: Config, alert: dict[str, Any]) -> Evidence:
    """An episode email's evidence, from the database."""
    episode = rows(db, "SELECT * FROM episodes WHERE id = ?", [alert["episode_id"]])[0]
    start, end = evidence_window(db, config, alert, episode)
    brand = alert["brand"]
    window = [brand, start, end]
    worst = worst_mentions(db, brand, start, end, max(1, config.alerts["worst_mentions"]))
    by_source = [SourceCount(*r) for r in db.execute(
        "SELECT source, coalesce(sum(label = 'negative'), 0), count(*) FROM mention_sentiments "
        "WHERE brand = ? AND created_at >= ? AND created_at < ? GROUP BY source "
        "HAVING sum(label = 'negative') > 0 ORDER BY 2 DESC, 1", window).fetchall()]
    total = db.execute("SELECT count(*) FROM mention_sentiments WHERE brand = ? AND "
                       "created_at >= ? AND created_at < ?", window).fetchone()[0]
    expected = db.execute("SELECT sum(expected) FROM buckets WHERE brand = ? AND series = ? "
                          "AND bucket_at >= ? AND bucket_at < ?",
                          [brand, episode["series"], start, end]).fetchone()[0]
    try:
        words = config.brand(brand).keywords
    except Exception:
        words = [brand]
    links = Links.of(config)
    return Evidence(
        alert=alert, episode=episode, worst=worst, by_source=by_source, window_start=start,
        window_end=end, negatives=sum(s.negatives for s in by_source), total=total,
        expected=expected, bins=chart_bins(db, brand, episode["series"], parse_iso(end)),
        terms=window_terms(db, brand, start, end, words),
        datasette_url=links.base, database_name=links.database)


# --- render (pure) ------------------------------------------------------------------------
def times(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 3 else f"{ratio:.1f}x"


def where_words(by_source: list[SourceCount]) -> str:
    """'mostly Reddit and Trustpilot', 'all on Reddit', or ''."""
    total = sum(s.negatives for s in by_source)
    if not total:
        return ""
    names = [source_name(s.source) for s in by_source]
    if len(by_source) == 1:
        return f"all on {names[0]}"
    if by_source[0].negatives >= 0.7 * total:
        return f"mostly {names[0]}"
    return f"mostly {names[0]} and {names[1]}"


def subject(ev: Evidence) -> str:
    kind, brand = ev.alert["kind"], ev.alert["brand"]
    ratio = f", {times(ev.ratio)} usual" if ev.ratio and ev.ratio >= 1.05 else ""
    where = where_words(ev.by_source)
    where = f" — {where}" if where else ""
    size = f"{ev.negatives} negative mention{'s' * (ev.negatives != 1)} in {ev.hours} h"
    if kind == "close":
        return f"Over: {brand} negative episode ended ({size}{ratio})"
    prefix = "Still rising: " if kind == "escalate" else ""
    return f"{prefix}{brand}: {size}{ratio}{where}"


def facts(ev: Evidence) -> list[str]:
    """The numbers in plain words: what the first lines of the email say."""
    ep, out = ev.episode, []
    usual = f", where about {ev.expected:.1f} are usual" if ev.expected is not None else ""
    ratio = f" — {times(ev.ratio)} the usual level" if ev.ratio and ev.ratio >= 1.05 else ""
    if ev.alert["kind"] == "close":
        out.append(f"The episode is over. {ep.get('summary') or ''}".strip())
        out.append(f"From {when(ev.window_start)} to {when(ev.window_end, date=False)}: "
                   f"{ev.negatives} negative mentions{usual.replace('are', 'were')}{ratio}.")
    else:
        if ev.alert["kind"] == "escalate":
            out.append(f"Still rising since the first email (episode opened "
                       f"{when(ep['opened_at'])}).")
        out.append(f"{ev.negatives} negative mentions since {when(ev.window_start)} "
                   f"({ev.hours} h){usual}{ratio}.")
    if ev.total:
        share = ev.negatives / ev.total
        usual_share = (f"; usually {ep['baseline_share']:.0%}"
                       if ep.get("baseline_share") is not None else "")
        out.append(f"{share:.0%} of all {ev.total} mentions in that time were negative"
                   f"{usual_share}.")
    if ev.by_source:
        out.append("Where: " + ", ".join(f"{source_name(s.source)} {s.negatives}"
                                         for s in ev.by_source) + ".")
    return out


def rule_words(ev: Evidence) -> str:
    ep = ev.episode
    fired = [r for r in (ep.get("rule") or "").split("+") if r]
    params = json.loads(ep.get("params") or "{}")
    said = "; ".join(f"{r} ({RULES.get(r, 'detector rule')})" for r in fired) or "episode"
    stat = ""
    if ep.get("statistic") is not None and ep.get("threshold") is not None:
        stat = f" Statistic {ep['statistic']:g} over threshold {ep['threshold']:g}."
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, int | float) else f"{k}={v}"
                      for k, v in sorted(params.items()))
    return (f"Why this alert: rule {said} fired at {when(ep['opened_at'])}.{stat}"
            + (f" Parameters: {shown}." if shown else ""))


def mention_meta(m: dict[str, Any]) -> str:
    stars = f" · {m['rating']:g}★" if m.get("rating") is not None else ""
    return (f"{source_name(m['source'])}{stars} · {clean(m.get('author'), 60) or 'anonymous'}"
            f" · {when(m['created_at'])}")


def mention_quote(m: dict[str, Any]) -> str:
    title, body = clean(m.get("title"), 120), clean(m.get("body"), 240)
    if title and body and not body.startswith(title):
        return f"{title} — {body}"
    return body or title or "(no text)"


def plain_mentions(links: Links, mentions: list[dict[str, Any]]) -> list[str]:
    lines = []
    for m in mentions:
        lines.append(f"- “{mention_quote(m)}”")
        lines.append(f"  {mention_meta(m)}")
        original = safe_url(m.get("url"))
        if original:
            lines.append(f"  original: {original}")
        lines.append(f"  in earful: {links.row('mentions', m['id'])}")
    return lines


# Inline styles only: many mail apps drop <style> blocks; nothing remote, no scripts.
FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
e = html.escape


def html_button(href: str, label: str, primary: bool = True) -> str:
    colors = ("background:#b42318;color:#ffffff;border:1px solid #b42318" if primary else
              "background:#ffffff;color:#b42318;border:1px solid #b42318")
    return (f'<a href="{e(href)}" style="display:inline-block;{colors};text-decoration:none;'
            f'font-weight:600;font-size:15px;padding:10px 14px;border-radius:6px;'
            f'margin:0 6px 8px 0">{e(label)}</a>')


def html_heading(text: str) -> str:
    return (f'<h2 style="font-size:13px;letter-spacing:.06em;text-transform:uppercase;'
            f'color:#6b7280;margin:22px 0 8px 0;font-weight:700">{e(text)}</h2>')


def html_mentions(links: Links, mentions: list[dict[str, Any]]) -> str:
    items = []
    for m in mentions:
        original = safe_url(m.get("url"))
        link = (f'<a href="{e(original)}" style="color:#1d4ed8">original</a> '
                f'<span style="color:#6b7280">({e(host_of(original))})</span> · '
                if original else "")
        items.append(
            '<div style="border-left:3px solid #b42318;padding:2px 0 2px 10px;margin:0 0 14px 0">'
            f'<div style="font-size:15px;line-height:1.4;color:#111827">'
            f"“{e(mention_quote(m))}”</div>"
            f'<div style="font-size:13px;color:#4b5563;margin-top:4px">{e(mention_meta(m))}'
            f'</div><div style="font-size:13px;margin-top:2px">{link}'
            f'<a href="{e(links.row("mentions", m["id"]))}" style="color:#1d4ed8">in earful</a>'
            "</div></div>")
    return "".join(items)


def html_sources(by_source: list[SourceCount], link_for: Callable[[str], str]) -> str:
    cells = "".join(
        f'<tr><td style="padding:4px 8px 4px 0"><a href="{e(link_for(s.source))}" '
        f'style="color:#1d4ed8">{e(source_name(s.source))}</a></td>'
        f'<td style="padding:4px 8px;text-align:right;font-weight:600">{s.negatives}</td>'
        f'<td style="padding:4px 0 4px 8px;text-align:right;color:#4b5563">of {s.total}</td></tr>'
        for s in by_source)
    return (f'<table style="border-collapse:collapse;font-size:15px" role="presentation">'
            f"{cells}</table>")


def html_page(title: str, inner: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)}</title></head>"
        f'<body style="margin:0;padding:0;background:#ffffff">'
        f'<div style="font-family:{FONT};max-width:600px;margin:0 auto;padding:14px 14px 24px;'
        f'color:#111827;font-size:15px;line-height:1.45">{inner}</div></body></html>')


def chart_cid(alert_id: str, part: str = "chart") -> str:
    return f"{part}.{hashlib.sha256(alert_id.encode()).hexdigest()[:16]}@earful.invalid"


def html_chart(cid: str, alt: str) -> str:
    return (f'<img src="cid:{e(cid)}" alt="{e(alt)}" width="360" '
            f'style="display:block;width:100%;max-width:600px;height:auto;border:0;'
            f'margin:4px 0 2px 0">')


# Headers unfolded up to 998 (RFC 5322's limit): Python folds a long subject before an
# encoded word with a stray space ("usual  — mostly"); bodies 7-bit (quoted-printable or
# base64), so no server needs 8BITMIME.
MAIL_POLICY = email.policy.SMTP.clone(max_line_length=998, cte_type="7bit")


def assemble(alert: dict[str, Any], sender: str, subject_line: str, text: str, html_part: str,
             images: list[tuple[str, bytes]]) -> EmailMessage:
    """multipart/alternative: text/plain, then multipart/related (HTML + inline PNGs)."""
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["Subject"] = subject_line
    msg["From"] = sender
    msg["To"] = ", ".join(json.loads(alert["recipients"])) or "undisclosed-recipients:;"
    msg["Message-ID"] = alert["message_id"]
    msg["Date"] = format_datetime(parse_iso(alert["created_at"]))
    if alert.get("thread_id"):
        msg["In-Reply-To"] = alert["thread_id"]
        msg["References"] = alert["thread_id"]
    msg["X-Earful-Alert"] = alert["id"]
    msg["Auto-Submitted"] = "auto-generated"  # no vacation replies to a robot
    msg.set_content(text)
    msg.add_alternative(html_part, subtype="html")
    html_mime = msg.get_payload()[1]
    for cid, png in images:
        html_mime.add_related(png, "image", "png", cid=f"<{cid}>", disposition="inline",
                              filename=cid.split("@")[0] + ".png")
    return msg


def render(ev: Evidence, sender: str) -> EmailMessage:
    """Build the episode email (plain text + HTML + inline chart). Pure: no database, no network."""
    links, ep, brand = ev.links, ev.episode, ev.alert["brand"]
    title = subject(ev)
    evidence_url = links.query("episode_evidence", episode=ep["id"])
    triage_url = links.query("negative_last_24h", brand=brand)

    def source_link(source: str) -> str:
        return links.table("mentions", brand=brand, source=source,
                           created_at__gte=ev.window_start, created_at__lt=ev.window_end,
                           _sort_desc="created_at")

    shade = (parse_iso(ev.window_start), parse_iso(ev.window_end))
    step = dt.timedelta(hours=ev.bin_hours)
    png = chart.render_png(ev.bins, shade=shade, step=step) if ev.bins else None
    chart_alt = (f"Negative mentions per {ev.bin_hours} hours over the last "
                 f"{CHART_DAYS} days against the usual level; the episode is shaded.")

    lines = [title, "", *facts(ev), "", rule_words(ev)]
    if ev.terms:
        lines += ["", "What people complain about: " + ", ".join(ev.terms)]
    lines += ["", f"See all {ev.negatives} negative mentions: {evidence_url}",
              f"Triage (negatives in the last 24 h): {triage_url}", "",
              f"Worst {len(ev.worst)} mentions:", *plain_mentions(links, ev.worst), "",
              "By source (negative / all mentions in the window):"]
    lines += [f"  {source_name(s.source)}: {s.negatives} / {s.total}  {source_link(s.source)}"
              for s in ev.by_source]
    lines += ["", f"Episode: {links.row('episodes', ep['id'])}",
              "-- earful. You get this because you are on its instant alert list."]
    text = "\n".join(lines) + "\n"

    kind = ev.alert["kind"]
    badge = {"open": ("NEGATIVE SPIKE", "#b42318"), "escalate": ("STILL RISING", "#b42318"),
             "close": ("EPISODE OVER", "#067647")}.get(kind, ("ALERT", "#b42318"))
    fact_lines = facts(ev)
    inner = (
        f'<div style="font-size:12px;font-weight:700;letter-spacing:.08em;color:{badge[1]}">'
        f"{e(badge[0])} · {e(brand)}</div>"
        f'<h1 style="font-size:21px;line-height:1.25;margin:6px 0 10px 0">{e(title)}</h1>'
        f'<p style="font-size:16px;line-height:1.4;margin:0 0 8px 0">{e(fact_lines[0])}</p>'
        + "".join(f'<p style="margin:0 0 6px 0">{e(line)}</p>' for line in fact_lines[1:])
        + '<div style="margin:12px 0 4px 0">'
        + html_button(evidence_url, f"See all {ev.negatives} mentions")
        + html_button(triage_url, "Triage last 24 h", primary=False) + "</div>"
        + (html_chart(chart_cid(ev.alert["id"]), chart_alt)
           + f'<div style="font-size:12px;color:#6b7280">Negative mentions per {ev.bin_hours} h,'
           f" last {CHART_DAYS} days; line = usual; shaded = this episode.</div>"
           if png else "")
        + (html_heading("What people complain about")
           + "".join(f'<span style="display:inline-block;background:#fef3f2;color:#912018;'
                     f'border-radius:12px;padding:3px 10px;margin:0 6px 6px 0;font-size:14px">'
                     f"{e(t)}</span>" for t in ev.terms) if ev.terms else "")
        + html_heading(f"Worst {len(ev.worst)} mentions") + html_mentions(links, ev.worst)
        + html_heading("By source") + html_sources(ev.by_source, source_link)
        + f'<p style="font-size:13px;color:#4b5563;margin:18px 0 0 0">{e(rule_words(ev))}</p>'
        + f'<p style="font-size:12px;color:#6b7280;margin:12px 0 0 0">'
        f'<a href="{e(links.row("episodes", ep["id"]))}" style="color:#6b7280">Episode '
        f"{e(ep['id'])}</a> · earful. You get this because you are on its instant alert list.</p>")
    images = [(chart_cid(ev.alert["id"]), png)] if png else []
    return assemble(ev.alert, sender, title, text, html_page(title, inner), images)


def render_alert(db: sqlite_utils.Database, config: Config,
                 alert: dict[str, Any]) -> EmailMessage:
    """Any outbox row -> its email."""
    sender = config.alerts["sender"]
    if alert["kind"] == "digest":
        from . import digest

        return digest.render(digest.gather(db, config, alert), sender)
    if alert["kind"] in ("health", "recovery"):
        from . import health_alerts

        return health_alerts.render(health_alerts.gather(db, config, alert), sender)
    return render(gather(db, config, alert), sender)


# --- send ---------------------------------------------------------------------------------
def eml_path(outbox: Path, alert: dict[str, Any]) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", alert["id"]).strip("-")[:120]
    return outbox / f"{slug}.eml"


def write_eml(outbox: Path, alert: dict[str, Any], msg: EmailMessage) -> Path:
    """Write atomically under a name derived from the alert id: a rerun rewrites, never adds."""
    outbox.mkdir(parents=True, exist_ok=True)
    path = eml_path(outbox, alert)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        tmp.write_bytes(bytes(msg))
        os.replace(tmp, path)
    except OSError:  # a full disk: no half-written file left behind
        tmp.unlink(missing_ok=True)
        raise
    return path


def tls_context(smtp: dict[str, Any]) -> ssl.SSLContext:
    """Certificate and host name always verified; ``smtp.ca_file`` trusts a private CA
    (a company relay, or the tests' self-signed server) instead of the system store."""
    return ssl.create_default_context(cafile=smtp.get("ca_file") or None)


def send_smtp(smtp: dict[str, Any], password: str | None, msg: EmailMessage) -> str:
    """Deliver one message. Returns a note on recipients refused (others got it)."""
    host, port, timeout = smtp["host"], smtp["port"], smtp["timeout"]
    # Our own name for EHLO: socket.getfqdn() (smtplib's default) can hang on DNS.
    helo = smtp.get("helo") or socket.gethostname() or "localhost"
    try:
        if smtp["security"] == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, local_hostname=helo,
                                                    timeout=timeout, context=tls_context(smtp))
        else:
            client = smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout)
        try:
            if smtp["security"] == "starttls":
                client.starttls(context=tls_context(smtp))
            if smtp["username"]:
                client.login(smtp["username"], password or "")
            refused = client.send_message(msg)
        finally:
            _quit(client)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP {host}:{port}: {exc}") from None
    return f"refused: {', '.join(sorted(refused))}" if refused else ""


def _quit(client: smtplib.SMTP) -> None:
    # Once send_message returned the server has the message: a QUIT answered 421 or cut off
    # must not mark it failed, or the next run sends a second copy.
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


def lease_seconds(config: Config) -> float:
    # A claim older than this belongs to a run that died; a send never takes this long.
    timeout = (config.smtp or {}).get("timeout", 30)
    return max(300.0, 4.0 * float(timeout))


def _claimer() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim_is_stale(claimed_by: str | None, claimed_at: str | None, lease: float) -> bool:
    if not claimed_by or not claimed_at:
        return True
    age = (dt.datetime.now(dt.UTC) - parse_iso(claimed_at)).total_seconds()
    if age > lease:
        return True
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False  # ourselves: another thread's claim, still in flight
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True  # the claiming process is gone: it died mid-send
    except PermissionError:
        return False
    return False


def claim(db: sqlite_utils.Database, config: Config, alert_id: str, subject_line: str) -> bool:
    """Take one alert for sending: compare-and-set, so overlapping stages never both win."""
    with db.atomic():
        row = db.execute("SELECT status, claimed_by, claimed_at FROM alerts WHERE id = ?",
                         [alert_id]).fetchone()
        if row is None:
            return False
        status, claimed_by, claimed_at = row
        if status == "sent" or (status == "sending" and not _claim_is_stale(
                claimed_by, claimed_at, lease_seconds(config))):
            return False
        return db.execute(
            "UPDATE alerts SET status = 'sending', attempts = attempts + 1, subject = ?, "
            "claimed_by = ?, claimed_at = ? WHERE id = ? AND status = ? AND "
            "coalesce(claimed_by, '') = ? AND coalesce(claimed_at, '') = ?",
            [subject_line, _claimer(), store.now_iso(), alert_id, status, claimed_by or "",
             claimed_at or ""]).rowcount == 1


def queue_periodic(db: sqlite_utils.Database, config: Config,
                   now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Digest and source-health rows due now (not yet inserted)."""
    from . import digest, health_alerts

    now = now or dt.datetime.now(dt.UTC)
    return digest.due(db, config, now) + health_alerts.due(db, config)


def alert_stage(db: sqlite_utils.Database, config: Config, *, dry_run: bool = False,
                echo: Any = None, now: dt.datetime | None = None) -> tuple[int, list[str]]:
    """Queue due digests and health emails, then deliver every pending alert.

    Returns (sent, failures); failed alerts stay pending for the next run.
    """
    due = queue_periodic(db, config, now)
    if not dry_run and due:
        with db.atomic():
            for row in due:
                insert_alert(db, row)
    pending = rows(db, "SELECT * FROM alerts WHERE status IN ('pending', 'sending') "
                   "ORDER BY created_at, id", [])
    if dry_run:
        pending += due
    sent, failures = 0, []
    outbox = Path(config.alerts["outbox"])
    for alert in pending:
        msg = render_alert(db, config, alert)
        if dry_run:
            if echo:
                echo(f"--- would send {alert['id']} to {msg['To']}\nSubject: {msg['Subject']}\n\n"
                     f"{msg.get_body(('plain',)).get_content()}")
            continue
        if not claim(db, config, alert["id"], msg["Subject"]):
            continue
        note = ""
        try:
            if config.smtp:
                note = send_smtp(config.smtp, config.secrets.smtp_password, msg)
                where = f"smtp://{config.smtp['host']}:{config.smtp['port']}"
            else:
                where = str(write_eml(outbox, alert, msg))
        except (DeliveryError, OSError) as exc:
            error = str(exc) if isinstance(exc, DeliveryError) else f"{outbox}: {exc}"
            with db.atomic():
                db.execute("UPDATE alerts SET status = 'pending', last_error = ?, "
                           "claimed_by = NULL, claimed_at = NULL WHERE id = ?",
                           [error, alert["id"]])
            failures.append(f"alert {alert['id']}: {error}")
            continue
        with db.atomic():
            db.execute("UPDATE alerts SET status = 'sent', sent_at = ?, delivered_to = ?, "
                       "last_error = ? WHERE id = ?",
                       [store.now_iso(), where, note or None, alert["id"]])
        sent += 1
    return sent, failures
