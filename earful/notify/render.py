"""Evidence -> what a reader sees: subject, plain text, HTML and a chat card. Pure: no
database, no network.

The wording (subject, facts, why) is Python; the markup is Jinja2 templates with
autoescape on (``templates/``: one ``layout.html`` every email extends, ``macros.html`` for
the shared pieces, and a ``.txt`` twin per email rendered from the same values). The
``Card`` is the channel-neutral shape Slack, Teams and webhooks are built from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from collectors.base import parse_iso

from .. import chart
from .digest import TREND_DAYS, Digest
from .evidence import CHART_DAYS, Evidence, SourceCount
from .health import HealthEvidence
from .instant import InstantEvidence
from .text import Links, clean, host_of, safe_url, source_name, when

RULES = {
    "negative-volume": "more negative mentions than usual, sustained",
    "negative-share": "a larger share of negative mentions than usual, sustained",
    "negative-burst": "a sudden burst of negative mentions within one bucket",
}
CARD_MENTIONS = 3  # chat cards quote the three worst: more scrolls past on a phone


class _Loader(jinja2.FileSystemLoader):
    """HTML templates are written one element a line; the email carries them joined, as the
    hand-built HTML did (no stray whitespace nodes between inline elements)."""

    def get_source(self, environment: jinja2.Environment, template: str) -> Any:
        source, filename, uptodate = super().get_source(environment, template)
        if template.endswith(".html"):
            source = "".join(line.lstrip() for line in source.splitlines())
        return source, filename, uptodate


ENV = jinja2.Environment(
    loader=_Loader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined)


def _page(name: str, **values: Any) -> tuple[str, str]:
    """(text, html) of one email from the same values."""
    return (ENV.get_template(f"{name}.txt").render(**values),
            ENV.get_template(f"{name}.html").render(**values))


@dataclass
class Card:
    """What a chat message shows: headline, numbers, up to three mentions, links."""

    kind: str
    brand: str | None
    headline: str
    facts: list[str]
    mentions: list[dict[str, Any]] = field(default_factory=list)
    link: str | None = None
    link_label: str = "Open in earful"
    chart_url: str | None = None
    color: str = "#b42318"


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    images: list[tuple[str, bytes]]
    card: Card


def chart_cid(alert_id: str, part: str = "chart") -> str:
    return f"{part}.{hashlib.sha256(alert_id.encode()).hexdigest()[:16]}@earful.invalid"


# --- wording ------------------------------------------------------------------------------
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


def mention_view(links: Links, m: dict[str, Any]) -> dict[str, Any]:
    """A mention as every template and card shows it: cleaned text, safe links only."""
    original = safe_url(m.get("url"))
    return {"quote": mention_quote(m), "meta": mention_meta(m), "original": original,
            "host": host_of(original) if original else "", "earful": links.row("mentions", m["id"])}


def plain_mentions(links: Links, mentions: list[dict[str, Any]]) -> list[str]:
    text = ENV.get_template("mentions.txt").render(
        mentions=[mention_view(links, m) for m in mentions])
    return text.splitlines()


# --- one function per kind ----------------------------------------------------------------
def render_episode(ev: Evidence) -> Rendered:
    """The episode alert: plain text + HTML + inline chart, and its chat card."""
    links, ep, brand = ev.links, ev.episode, ev.alert["brand"]
    title = subject(ev)
    shade = (parse_iso(ev.window_start), parse_iso(ev.window_end))
    png = (chart.render_png(ev.bins, shade=shade, step=dt.timedelta(hours=ev.bin_hours))
           if ev.bins else None)
    cid = chart_cid(ev.alert["id"])

    def source_link(source: str) -> str:
        return links.table("mentions", brand=brand, source=source,
                           created_at__gte=ev.window_start, created_at__lt=ev.window_end,
                           _sort_desc="created_at")

    badge = {"open": ("NEGATIVE SPIKE", "#b42318"), "escalate": ("STILL RISING", "#b42318"),
             "close": ("EPISODE OVER", "#067647")}.get(ev.alert["kind"], ("ALERT", "#b42318"))
    values = {
        "title": title, "brand": brand, "badge": badge[0], "color": badge[1],
        "facts": facts(ev), "rule": rule_words(ev), "terms": ev.terms, "negatives": ev.negatives,
        # The window this email counted, so the page shows the same number.
        "evidence_url": links.query("episode_evidence", episode=ep["id"],
                                    since=ev.window_start, until=ev.window_end),
        "triage_url": links.query("negative_last_24h", brand=brand),
        "chart_cid": cid if png else None, "bin_hours": ev.bin_hours, "chart_days": CHART_DAYS,
        "chart_alt": (f"Negative mentions per {ev.bin_hours} hours over the last {CHART_DAYS} "
                      "days against the usual level; the episode is shaded."),
        "worst": [mention_view(links, m) for m in ev.worst],
        "sources": [{"name": source_name(s.source), "negatives": s.negatives, "total": s.total,
                     "url": source_link(s.source)} for s in ev.by_source],
        "episode_url": links.row("episodes", ep["id"]), "episode_id": ep["id"]}
    text, html = _page("episode", **values)
    card = Card(kind=ev.alert["kind"], brand=brand, headline=title, facts=values["facts"],
                mentions=values["worst"][:CARD_MENTIONS], link=values["evidence_url"],
                link_label=f"See all {ev.negatives} mentions",
                chart_url=links.chart(ep["id"]) if png and links.reachable else None,
                color=badge[1])
    return Rendered(title, text, html, [(cid, png)] if png else [], card)


def trend(now: int, before: int, frequency: str) -> str:
    unit = "the day before" if frequency == "daily" else "the week before"
    if now == before:
        return f"same as {unit}"
    return f"{'up' if now > before else 'down'} from {before} {unit}"


def digest_label(d: Digest) -> str:
    start = parse_iso(d.start)
    if d.frequency == "daily":
        return f"{start:%a} {start.day} {start:%b}"
    last = parse_iso(d.end) - dt.timedelta(days=1)
    return f"week of {start.day} {start:%b}–{last.day} {last:%b}"


def digest_subject(d: Digest) -> str:
    parts = [f"{b.brand} {b.negatives} negative ({trend(b.negatives, b.previous, d.frequency)})"
             for b in d.brands]
    return f"earful {d.frequency} digest, {digest_label(d)}: " + "; ".join(parts or ["no brands"])


def render_digest(d: Digest) -> Rendered:
    """The digest: per brand the numbers, trend chart, complaints, episodes, worst mentions,
    and the instant alerts the hourly cap held back."""
    title, images, brands = digest_subject(d), [], []
    shade = (parse_iso(d.start), parse_iso(d.end))
    for b in d.brands:
        share = f" ({b.negatives / b.total:.0%} of {b.total} mentions)" if b.total else ""
        png = (chart.render_png(b.bins, shade=shade, step=dt.timedelta(days=1))
               if b.bins else None)
        cid = chart_cid(d.alert["id"], f"trend-{len(images)}")
        if png:
            images.append((cid, png))
        brands.append({
            "headline": (f"{b.brand}: {b.negatives} negative mentions{share}, "
                         f"{trend(b.negatives, b.previous, d.frequency)}."),
            "where_text": ", ".join(f"{source_name(s.source)} {s.negatives}/{s.total}"
                                    for s in b.by_source),
            "where_html": (", ".join(f"{source_name(s.source)} {s.negatives}"
                                     for s in b.by_source if s.negatives) or "no negatives")
            if b.by_source else None,
            "terms": b.terms, "chart_cid": cid if png else None,
            "chart_alt": (f"Negative mentions per day for {b.brand}, "
                          f"last {TREND_DAYS[d.frequency]} days"),
            "episodes": [{"url": d.links.query("episode_evidence", episode=ep["id"]),
                          "opened": when(ep["opened_at"]), "status": ep["status"],
                          "summary": ep["summary"] or ""} for ep in b.episodes],
            "triage_url": d.links.query("negative_last_24h" if d.frequency == "daily"
                                        else "negative_last_7d", brand=b.brand),
            "worst": [mention_view(d.links, m) for m in b.worst],
            "held": [mention_view(d.links, m) for m in b.held]})
    text, html = _page("digest", title=title, frequency=d.frequency, label=digest_label(d),
                       brands=brands)
    card = Card(kind="digest", brand=None, headline=title,
                facts=[b["headline"] for b in brands],
                mentions=[m for b in brands for m in b["worst"]][:CARD_MENTIONS],
                link=brands[0]["triage_url"] if brands else None, link_label="Triage negatives",
                color="#344054")
    return Rendered(title, text, html, images, card)


def health_subject(h: HealthEvidence) -> str:
    name = f"{h.brand} {source_name(h.source)}"
    if h.alert["kind"] == "recovery":
        return f"earful: {name} is collecting again"
    if h.mode == "failing":
        return f"earful: {name} failing — {h.runs_failed} runs in a row since {when(h.since)}"
    return f"earful: {name} silent since {when(h.since)} — usually brings mentions"


def render_health(h: HealthEvidence) -> Rendered:
    title = health_subject(h)
    # An error message can quote a remote server's reply: untrusted, like mention text.
    error = clean(h.last_error, 400)
    lines = [f"Source: {source_name(h.source)} — {clean(h.target, 200)} (brand {h.brand})"]
    if h.alert["kind"] == "recovery":
        lines += [f"It worked again at {when(h.last_ok)}; the mentions it missed are "
                  "collected as far as the source still lists them."]
    elif h.mode == "failing":
        lines += [f"It has failed every run since {when(h.since)} "
                  f"({h.runs_failed} runs); it last worked {when(h.last_ok) or 'never'}.",
                  f"Last error ({when(h.last_error_at)}): {error or 'no message'}",
                  "Until it works, spikes on this source can go unnoticed."]
    else:
        lines += [f"It has brought nothing new since {when(h.since)}, where it usually "
                  "does: the site may have changed its layout, or blocked us.",
                  "Until it works, spikes on this source can go unnoticed."]
    recovered = h.alert["kind"] == "recovery"
    values = {"title": title, "brand": h.brand, "lines": lines,
              "badge": "SOURCE RECOVERED" if recovered else "SOURCE PROBLEM",
              "color": "#067647" if recovered else "#b54708",
              "health_url": h.links.query("source_health"),
              "runs_url": h.links.table("source_runs", brand=h.brand, source=h.source,
                                        _sort_desc="started_at")}
    text, html = _page("health", **values)
    card = Card(kind=h.alert["kind"], brand=h.brand, headline=title, facts=lines,
                link=values["health_url"], link_label="Source health", color=values["color"])
    return Rendered(title, text, html, [], card)


def instant_subject(i: InstantEvidence) -> str:
    m = i.mention
    what = (f"{m['rating']:g}★ review on {source_name(m['source'])}"
            if m.get("rating") is not None else f"{source_name(m['source'])} {m['kind']}")
    quote = mention_quote(m)
    quote = quote if len(quote) <= 70 else quote[:69].rstrip() + "…"
    return f"{i.alert['brand']}: {what} — “{quote}”"


def render_instant(i: InstantEvidence) -> Rendered:
    """One mention that should not wait for a spike: a low review, a severity term, reach."""
    title, brand = instant_subject(i), i.alert["brand"]
    facts_ = [f"Why now: {'; '.join(i.reasons)}."]
    mention = mention_view(i.links, i.mention)
    text, html = _page("instant", title=title, brand=brand, facts=facts_, mention=mention,
                       cap=i.cap, triage_url=i.links.query("negative_last_24h", brand=brand))
    card = Card(kind="instant", brand=brand, headline=title, facts=facts_, mentions=[mention],
                link=mention["earful"], link_label="Open in earful")
    return Rendered(title, text, html, [], card)
